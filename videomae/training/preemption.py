"""SLURM pre-emption: SIGUSR1 (`--signal=USR1@N`, `scancel --signal=USR1`) saves `last.ckpt` at a
step boundary and requeues the job; SIGTERM saves and exits 143 (callbacks.SaveOnSigterm).

Lightning's own SLURM handler is not used (`SLURMEnvironment(auto_requeue=False)`): it saves
`hpc_ckpt_N.ckpt` inside the signal handler, in the middle of a step, so a resume logs every later
loss one step late; it runs in every DataLoader worker too (each saving and requeueing), and it is
gone once `fit` returns, so a signal that arrives after the last step kills a finished job (138).

Here the handler only sets a flag, and stays installed for the life of the process. At the next
step boundary `RequeueOnSignal` turns the flag into Lightning's SIGTERM stop on every rank at the
same step: `SaveOnSigterm` writes `last.ckpt` (the exact-resume path: step, optimizer, data
position), then `run.fit` has rank 0 alone run `scontrol requeue` and every rank exit with
REQUEUED_EXIT. A job that ends first just ends (exit 0). DataLoader workers ignore both signals
(videomae.data.workers.WorkerInit): their parent stops them.
"""

import os
import re
import signal
import subprocess
import threading

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from lightning_fabric.plugins.environments import SLURMEnvironment

REQUEUED_EXIT = 75  # EX_TEMPFAIL: saved and requeued, the job runs again (summary.json: "requeued")
_requested = threading.Event()


def _on_requeue_signal(signum, frame) -> None:
    _requested.set()  # all a handler may safely do; the step boundary does the rest


_installed = False


def install() -> None:
    """Under SLURM (SLURM_JOB_ID set), make SIGUSR1 a request to save and requeue. Elsewhere
    SIGUSR1 keeps its default action. Installed once, before the Trainer, never removed."""
    global _installed
    if os.environ.get("SLURM_JOB_ID") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, _on_requeue_signal)
        _installed = True


def requested() -> bool:
    return _requested.is_set()


def cluster_plugins() -> list:
    """Under srun, Lightning's SLURM environment without its requeue handler (ours replaces it)."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


class RequeueOnSignal(pl.Callback):
    """Turns a pending SIGUSR1 into Lightning's SIGTERM stop at a step boundary, rank 0 deciding
    for all (as Lightning does for SIGTERM). Not at an epoch's last batch: the validation that
    follows would be cut in the middle; the request then waits one step into the next epoch."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not _installed:  # not under SLURM (the same on every rank): no collective per step
            return
        flag = requested() and not trainer.is_last_batch
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            tensor = torch.tensor([int(flag)], device=trainer.strategy.root_device)
            dist.broadcast(tensor, src=0)
            flag = bool(tensor.item())
        if flag:
            # Lightning's flag for "SIGTERM received": the loop raises SIGTERMException once this
            # step is complete (progress counted), on every rank, and SaveOnSigterm saves.
            trainer._signal_connector.received_sigterm = True


def job_id() -> str | None:
    """The id `scontrol requeue` takes: ARRAYID_TASKID for an array job's task."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    found = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
    return found if found and re.fullmatch(r"[0-9_]+", found) else None


def requeue() -> str | None:
    """Requeue this job (rank 0 only); None when done, else why not. SIGTERM is ignored from here
    on: the requeue terminates this job's processes, and this one has nothing left to save."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    job = job_id()
    if job is None:
        return "SLURM_JOB_ID is not set"
    try:
        out = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return f"scontrol requeue {job}: {err}"
    if out.returncode:
        return f"scontrol requeue {job} failed: {(out.stderr or out.stdout).strip()}"
    return None
