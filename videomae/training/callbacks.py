"""Training callbacks."""

import os
import time

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info
from pytorch_lightning.utilities.exceptions import SIGTERMException


class ClipThroughput(pl.Callback):
    """Logs `train/clips_per_sec` over all ranks, averaged over each logging window.

    Wall time over a window rather than per step: no device synchronisation is needed.
    """

    def __init__(self):
        self._start = None
        self._clips = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._start is None:
            self._start = time.perf_counter()
            self._clips = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._clips += batch["video"].shape[0] * trainer.world_size
        if (trainer.global_step % max(trainer.log_every_n_steps, 1)) == 0 and self._clips:
            elapsed = time.perf_counter() - self._start
            pl_module.log("train/clips_per_sec", self._clips / max(elapsed, 1e-9), prog_bar=True)
            self._start = None


class SaveOnSigterm(pl.Callback):
    """On SIGTERM (a scheduler's pre-emption), write `last.ckpt` before the process exits.

    Lightning turns SIGTERM into SIGTERMException at the next step boundary on every rank; the
    checkpoint is then complete and consistent, and `ckpt_path=last` resumes from it.
    """

    def __init__(self, checkpoint_dir: str):
        self.path = os.path.join(checkpoint_dir, "last.ckpt")

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            rank_zero_info(f"SIGTERM: saved {self.path} at step {trainer.global_step}")
