"""What every DataLoader worker of a run does first: leave the scheduler's signals to its parent."""

import os
import signal
import threading
from collections.abc import Callable


class WorkerInit:
    """A DataLoader worker's start: scheduler signals left to the parent, then the worker seeding.

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
        obey_sigterm_from_parent_only()
        if self.seed_worker is not None and int(os.environ.get("PL_SEED_WORKERS", 0)):
            self.seed_worker(worker_id, rank=self.rank)


def obey_sigterm_from_parent_only() -> None:
    """SIGTERM ends this process only when its parent sends it: the loader's and
    multiprocessing's shutdown terminate a worker that did not stop by itself, and then join it
    (ignoring that SIGTERM too would hang the parent's exit). SIGTERM from anyone else (SLURM,
    `kill` of the process group) is the parent's to handle. A plain handler cannot see the sender,
    so SIGTERM is blocked in this process (threads started later inherit the mask) and one thread
    takes it with sigwaitinfo, which can."""
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent:
                os._exit(0)  # as torch's own worker handler does: the loader's SIGCHLD check passes

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()
