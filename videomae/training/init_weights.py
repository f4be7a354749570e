"""Weights a new run starts from: pre-training's `init=PATH` (continued pre-training) and
fine-tuning's `pretrained=PATH`. Both read whatever `videomae.load_weights` reads; what separates
`init=` from `ckpt_path=` is that only the weights come over: the optimizer, the schedule, the step
and the data position start fresh.
"""

import os

from torch import nn

from videomae.checkpoints import load_weights
from videomae.checkpoints.run_dir import run_checkpoint
from videomae.utils.errors import CheckpointError, ConfigError

NULL = (None, "", "null")


def resolve_weights(path: str, key: str = "init") -> str:
    """A run directory means its checkpoints/last.ckpt; files and transformers directories as they
    are; a path that does not exist is a ConfigError naming `key`."""
    resolved = run_checkpoint(str(path))
    if not os.path.exists(resolved):
        raise ConfigError(
            f"{key}={path} does not exist (give a run directory, a checkpoint file (ours, MCG-NJU or "
            "OpenGVLab .pth), or a transformers model directory; null: random initialisation)"
        )
    return resolved


def load_init(model: nn.Module, path: str, key: str = "init") -> str:
    """Load `path` into `model` (mismatched shapes and files without an encoder raise, naming the
    keys); returns the load report: what was loaded, what was kept at its initial value and why."""
    try:
        report = load_weights(model, resolve_weights(path, key))
    except CheckpointError as err:
        raise CheckpointError(f"{key}={path}: {one_line(str(err))}") from None
    kept = report.kept
    if any(k.startswith("decoder.") for k in kept) and not any(
        k.startswith("decoder.") for k in report.loaded
    ):
        report.notes.append(
            "the checkpoint has no decoder (a classifier or an encoder-only file): the decoder, "
            "encoder_to_decoder and mask_token start fresh"
        )
    return f"{key}={path}: a new run from these weights (fresh optimizer, schedule, step, data)\n" + (
        report.summary()
    )


def one_line(message: str) -> str:
    """A load error's listing (every mismatched key on its own line) cut to its first entry."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    entries = [line for line in lines[1:] if not line.endswith(":")]
    if not entries:
        return lines[0] if lines else message
    more = f" (and {len(entries) - 1} more)" if len(entries) > 1 else ""
    kinds = ", ".join(line.rstrip(":") for line in lines[1:] if line.endswith(":"))
    return f"{lines[0].rstrip(':')}: {kinds}: {entries[0]}{more}"


def start_weights(model: nn.Module, init: str | None, ckpt_path: str | None, key: str = "init") -> str:
    """What a run starts from, in words, after loading it: a resume (`ckpt_path`, which wins over
    `init` so that a requeued continued pre-training resumes instead of restarting), the weights of
    `init`, or the model's random initialisation."""
    if ckpt_path is not None:
        if init not in NULL:
            return (
                f"resuming {ckpt_path}; {key}={init} is not applied: ckpt_path wins, the checkpoint "
                "holds this run's own weights, optimizer and step"
            )
        return f"resuming {ckpt_path}"
    if init in NULL:
        return f"{key}=null: every weight at its random initial value"
    return load_init(model, str(init), key)
