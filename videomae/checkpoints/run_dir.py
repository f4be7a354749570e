"""Where a run directory keeps its checkpoints: the one place that knows `checkpoints/last.ckpt`."""

import os

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS)


def last_checkpoint(run_dir: str) -> str:
    """RUN/checkpoints/last.ckpt, rewritten (atomically) at every epoch end."""
    return os.path.join(run_dir, CHECKPOINTS, LAST)


def run_checkpoint(path: str) -> str:
    """A run directory that holds a last.ckpt means that checkpoint; any other path is returned as
    it is (a checkpoint file, a transformers directory, or a path that does not exist)."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path) and os.path.isfile(last_checkpoint(path)):
        return last_checkpoint(path)
    return path


def run_dir_of(checkpoint: str) -> str:
    """RUN/checkpoints/NAME.ckpt -> RUN; a checkpoint anywhere else -> its directory."""
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(str(checkpoint))))
    return os.path.dirname(parent) if os.path.basename(parent) == CHECKPOINTS else parent
