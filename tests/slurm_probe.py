"""A callback the SLURM tests inject through `+callbacks.pace`: it slows training down so that a
test can signal a job mid-run, and records where each attempt of each job is."""

import os
import signal
import time

import pytorch_lightning as pl


class Pace(pl.Callback):
    """Sleeps `seconds` per step; writes `<out_dir>/<job number>.txt`: "attempt step" (attempt:
    SLURM_RESTART_COUNT, 0 for the first). `usr1_at_end`: the process sends itself SIGUSR1 once
    training is over, as SLURM's `--signal=USR1@N` does to a job that ends inside the window.
    `role`: a label a sweep can vary (the test's pre-empted and reference jobs)."""

    def __init__(self, out_dir: str, seconds: float = 0.2, usr1_at_end: bool = False, role: str = ""):
        self.out_dir = out_dir
        self.seconds = seconds
        self.usr1_at_end = usr1_at_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == 0:
            name = os.path.basename(os.path.normpath(trainer.default_root_dir))
            path = os.path.join(self.out_dir, f"{name}.txt")
            with open(f"{path}.part", "w") as f:
                f.write(f"{os.environ.get('SLURM_RESTART_COUNT', '0')} {trainer.global_step}\n")
            os.replace(f"{path}.part", path)
        time.sleep(self.seconds)

    def on_fit_end(self, trainer, pl_module):
        if self.usr1_at_end:
            os.kill(os.getpid(), signal.SIGUSR1)
