"""What every DataLoader worker of a run does first: leave the scheduler's signals to its parent."""

import os
import signal
from collections.abc import Callable


class WorkerInit:
    """A DataLoader worker's start: scheduler signals ignored, then the worker seeding, if any.

    SLURM signals every process of a job step (SIGUSR1 before the time limit, SIGTERM before a
    kill). A forked worker would run its parent's handlers (save a checkpoint, requeue the job) or
    die of SIGTERM mid-batch, failing the run ("DataLoader worker is killed by signal"); the
    parent handles both and shuts its workers down (videomae.training.preemption). `seed_worker`
    is what Lightning installs when a loader has no worker_init_fn (seed_everything(workers=True)),
    passed in so that this module stays free of Lightning.
    """

    def __init__(self, rank: int, seed_worker: Callable[..., None] | None = None):
        self.rank = rank
        self.seed_worker = seed_worker

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.seed_worker is not None and int(os.environ.get("PL_SEED_WORKERS", 0)):
            self.seed_worker(worker_id, rank=self.rank)
