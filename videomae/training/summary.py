"""`summary.json`: one small file per run directory that says what the run was and what it measured.

Written by rank 0 only, always atomically (a reader never sees half a file): `status: running`
when the run starts, then `completed`, `failed` (with the error), `stopped` (SIGTERM: resumable)
or `requeued` (SIGUSR1 under SLURM: saved, and the job runs again) when it ends.
`scripts/report.py` collates these files into a table; the keys are documented in docs/ablations.md.
"""

import importlib.metadata
import json
import math
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from typing import Literal

import pytorch_lightning as pl
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from videomae.training.online_probe import OnlineProbe
from videomae.training.preemption import REQUEUED_EXIT
from videomae.utils.atomic_files import atomic_path

FILENAME = "summary.json"
# Logged metrics kept in the summary by prefix: the online probe logs probe/knn_top1, probe/linear_top1.
METRIC_PREFIXES = ("probe/",)


def package_version() -> str:
    try:
        return importlib.metadata.version("videomae")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> str | None:
    """The repository's commit, when the package runs from a git checkout."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        out = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def hydra_overrides() -> list[str] | None:
    """The command-line overrides that define this job (under multirun: this job's share of the sweep)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return list(HydraConfig.get().overrides.task)
    except (ImportError, ValueError):
        pass
    return None


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value.item() if hasattr(value, "item") else value)
    return value if math.isfinite(value) else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunSummary:
    """The summary of one run: `with RunSummary(run_dir, "pretrain", cfg) as summary: ...`.

    Entering writes `status: running`; leaving writes the final status with whatever was recorded
    (`summary.update(...)`, and the training statistics of `summary.callback` once a trainer ran).
    """

    def __init__(
        self, run_dir: str, kind: str, model: dict | None = None, overrides: list[str] | None = None
    ):
        self.path = os.path.join(run_dir, FILENAME)
        self.started = time.perf_counter()
        self.callback = SummaryCallback()
        self.data: dict = {
            "kind": kind,
            "status": "running",
            "run_dir": os.path.abspath(run_dir),
            "overrides": overrides if overrides is not None else hydra_overrides() or [],
            "model": model or {},
            "started_at": _now(),
            "version": package_version(),
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "host": platform.node(),
        }

    def update(self, **values) -> None:
        self.data.update(values)

    def write(self) -> None:
        if rank_zero_only.rank != 0:
            return
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")

    def __enter__(self) -> "RunSummary":
        self.write()
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        self.data.update(self.callback.results())
        self.data["wall_time_s"] = round(time.perf_counter() - self.started, 3)
        self.data["ended_at"] = _now()
        if exc_type is None:
            self.data["status"] = "completed"
        elif issubclass(exc_type, SystemExit) and exc.code in (0, None):
            self.data["status"] = "completed"
        elif issubclass(exc_type, SystemExit) and exc.code == REQUEUED_EXIT:  # SIGUSR1 under SLURM
            self.data["status"] = "requeued"
            self.data["error"] = "pre-empted: checkpoint saved, SLURM job requeued"
        elif issubclass(exc_type, SystemExit) and exc.code == 143:  # SIGTERM: checkpoint saved
            self.data["status"] = "stopped"
            self.data["error"] = "stopped by SIGTERM; resume with ckpt_path=last"
        else:
            self.data["status"] = "failed"
            text = str(exc).strip().splitlines()
            self.data["error"] = f"{exc_type.__name__}: {text[0] if text else ''}".rstrip(": ")
        self.write()
        return False  # the exception, if any, goes on


class SummaryCallback(pl.Callback):
    """Training statistics for the summary: steps, clips/s over the training loop, final and best
    loss, the best validation top-1, and the last value of every `probe/*` metric."""

    def __init__(self) -> None:
        self.trainer: pl.Trainer | None = None
        self.clips = 0
        self.train_start: float | None = None
        self.train_seconds = 0.0
        self.losses: list[float] = []
        self.best: dict[str, float] = {}
        self.param_count: int | None = None

    def setup(self, trainer, pl_module, stage):
        self.trainer = trainer
        if self.param_count is None:
            self.param_count = sum(p.numel() for p in pl_module.parameters())

    def on_train_start(self, trainer, pl_module):
        self.train_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        video = batch.get("video") if isinstance(batch, dict) else None
        if video is not None:
            self.clips += video.shape[0] * trainer.world_size
        if trainer.global_step % max(trainer.log_every_n_steps, 1) == 0:  # a .item() per log, not per step
            self._sample_loss(trainer)

    def _sample_loss(self, trainer) -> None:
        loss = _number(trainer.callback_metrics.get("train/loss"))
        if loss is not None:
            self.losses.append(loss)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        for key in ("val/top1", "val/top1_ema"):
            value = _number(trainer.callback_metrics.get(key))
            if value is not None:
                self.best[key] = max(value, self.best.get(key, value))

    def on_train_end(self, trainer, pl_module):
        if self.train_start is not None:
            self.train_seconds += time.perf_counter() - self.train_start
            self.train_start = None
        self._sample_loss(trainer)

    def results(self) -> dict:
        trainer = self.trainer
        if trainer is None:
            return {}
        if self.train_start is not None:  # the run stopped inside the training loop
            self.on_train_end(trainer, trainer.lightning_module)
        metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
        out = {
            "steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "world_size": trainer.world_size,
            "params": self.param_count,
            "train_time_s": round(self.train_seconds, 3),
            "clips": self.clips,
            "clips_per_s": round(self.clips / self.train_seconds, 3) if self.train_seconds > 0 else None,
            "final_loss": metrics.get("train/loss"),
            "best_loss": min(self.losses) if self.losses else metrics.get("train/loss"),
        }
        for key in ("val/top1", "val/top5", "val/top1_ema", "val/top5_ema"):
            if metrics.get(key) is not None:
                out[key] = metrics[key]
        out.update({f"best_{k}": v for k, v in self.best.items()})
        for callback in trainer.callbacks:  # training.timing.StepTiming: the step's split, MFU, verdict
            if hasattr(callback, "timing_results"):
                out.update(callback.timing_results())
        probes = {k: v for k, v in metrics.items() if k.startswith(METRIC_PREFIXES) and v is not None}
        # The probe logs to the loggers directly (not through self.log, so not in callback_metrics):
        # its last evaluation, kept across a resume in its history, is the summary's value.
        for callback in trainer.callbacks:
            history = callback.history if isinstance(callback, OnlineProbe) else None
            if history:
                keys = ("knn_top1", "linear_top1", "attentive_top1")
                probes.update({f"probe/{k}": history[-1][k] for k in keys if k in history[-1]})
        out.update(sorted(probes.items()))
        return out


def model_info(cfg) -> dict:
    """The model's size as the config gives it (the parameter count comes from the trainer)."""
    model = cfg.get("model") or {}
    keys = ("name", "embed_dim", "depth", "num_heads", "decoder_embed_dim", "decoder_depth", "patch_size")
    return {k: model.get(k) for k in keys if model.get(k) is not None}
