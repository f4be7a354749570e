"""The callbacks every run has, and `build_callbacks`: the list a run's config asks for."""

import logging
import os
import time
from dataclasses import dataclass

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_info
from pytorch_lightning.utilities.exceptions import SIGTERMException

from videomae.checkpoints.run_dir import LAST, checkpoint_dir
from videomae.config.schema import group_config, group_values
from videomae.training.loggers import ResumedMetrics
from videomae.training.online_probe import OnlineProbe
from videomae.training.online_probe_subsets import probe_settings
from videomae.training.pictures import ReconstructionPictures, VizConfig
from videomae.training.preemption import RequeueOnSignal
from videomae.training.progress import ProgressConfig, build_progress
from videomae.training.timing import PerfConfig, StepTiming
from videomae.training.verdict import from_config
from videomae.utils.config_fields import Settings, setting
from videomae.utils.errors import DataError

log = logging.getLogger(__name__)


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

    def __init__(self, directory: str):
        self.path = os.path.join(directory, LAST)

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
            rank_zero_info(f"SIGTERM: saved {self.path} at step {trainer.global_step}")


class SkippedVideos(pl.Callback):
    """Accounts for the videos the loaders could not read (items carry `failed`: "path: reason"
    lines, see videomae.data.dataset).

    Logs `data/skipped_videos` (summed over ranks), reports every skipped path once (a warning,
    and a line in `report_path`), and stops the run with a DataError listing examples once more
    than `max_fraction` of the videos attempted have failed, checked from `check_after` attempts.
    """

    def __init__(self, max_fraction: float = 0.5, check_after: int = 100, report_path: str | None = None):
        self.max_fraction = max_fraction
        self.check_after = check_after
        self.report_path = report_path
        self.failed = 0
        self.attempts = 0
        self.paths: dict[str, str] = {}

    def _report_file(self, trainer) -> str | None:
        if self.report_path is None or trainer.global_rank == 0:
            return self.report_path
        stem, ext = os.path.splitext(self.report_path)
        return f"{stem}.rank{trainer.global_rank}{ext}"

    def update(self, trainer, batch) -> None:
        failed = batch.get("failed") if isinstance(batch, dict) else None
        if failed is None:
            return
        lines = [line for text in failed for line in text.splitlines() if line]
        self.failed += len(lines)
        self.attempts += len(failed) + len(lines)
        new = []
        for line in lines:
            path, _, reason = line.partition(": ")
            if path not in self.paths:
                self.paths[path] = reason
                new.append(line)
                log.warning("skipped unreadable video %s", line)
        report = self._report_file(trainer)
        if new and report:
            os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
            with open(report, "a", encoding="utf-8") as f:
                f.writelines(f"{line}\n" for line in new)
        if self.attempts >= self.check_after and self.failed > self.max_fraction * self.attempts:
            examples = "\n  ".join(f"{p}: {r}" for p, r in list(self.paths.items())[:10])
            raise DataError(
                f"{self.failed} of {self.attempts} videos the loader tried could not be read, more "
                f"than data.max_skip_fraction={self.max_fraction:g}; is data.root right? "
                f"{len(self.paths)} distinct unreadable videos"
                + (f" (all in {report})" if report else "")
                + f", e.g.:\n  {examples}"
            )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.update(trainer, batch)
        pl_module.log("data/skipped_videos", float(self.failed), reduce_fx="sum", sync_dist=True)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.update(trainer, batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.update(trainer, batch)

    def _summary(self, trainer) -> None:
        if not self.paths:
            return
        report = self._report_file(trainer)
        where = f"; all listed in {report}" if report else ""
        shown = "\n  ".join(f"{p}: {r}" for p, r in list(self.paths.items())[:20])
        more = f"\n  ... and {len(self.paths) - 20} more" if len(self.paths) > 20 else ""
        log.warning(
            "skipped %d unreadable videos (%d times, of %d tried)%s:\n  %s%s",
            len(self.paths), self.failed, self.attempts, where, shown, more,
        )  # fmt: skip

    def on_fit_end(self, trainer, pl_module):
        self._summary(trainer)

    def on_test_end(self, trainer, pl_module):
        self._summary(trainer)


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig(Settings):
    """`checkpoint.*`: which checkpoints a run keeps besides last.ckpt (rewritten every epoch)."""

    GROUP = "checkpoint"
    every_n_epochs: int = setting(low=1)  # keep checkpoints/epochNNNN.ckpt this often


def build_callbacks(cfg: DictConfig, run_dir: str) -> list[pl.Callback]:
    """Checkpoints (a rolling last.ckpt, epochNNNN.ckpt every `checkpoint.every_n_epochs`),
    throughput, step timing (`perf.*`), SIGTERM save, metrics.csv kept whole over a resume,
    skipped-video accounting, then what the
    config adds: the online probe (`probe.*`), reconstruction pictures (`viz.*`), progress
    (`progress.*`) and any
    `callbacks.*` given by `_target_`."""
    directory = checkpoint_dir(run_dir)
    configured = [instantiate(spec) for spec in (cfg.get("callbacks") or {}).values()]
    # At the train epoch's end, which Lightning reaches after that epoch's validation: its default
    # saves at validation's end once `check_val_every_n_epoch` > 1, so the epochs that skip
    # validation (every epoch, where there is no validation split) were never saved.
    return [
        ModelCheckpoint(  # rewritten (atomically) at every epoch end
            dirpath=directory,
            filename=LAST.removesuffix(".ckpt"),
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
        ModelCheckpoint(
            dirpath=directory,
            filename="epoch{epoch:04d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=CheckpointConfig.from_dict(cfg.get("checkpoint")).every_n_epochs,
            save_on_train_epoch_end=True,
        ),
        ClipThroughput(),
        step_timing(cfg),
        SaveOnSigterm(directory),
        RequeueOnSignal(),
        ResumedMetrics(),
        SkippedVideos(
            max_fraction=float(cfg.data.max_skip_fraction),
            check_after=int(cfg.data.skip_check_after),
            report_path=os.path.join(run_dir, "skipped_videos.txt"),
        ),
        *optional_callbacks(cfg, run_dir),
        *configured,
    ]


def step_timing(cfg: DictConfig) -> StepTiming:
    """Step time split, MFU and the loader/model verdict (`perf.*`; pre-training has a `mask`)."""
    return StepTiming(
        settings=from_config(cfg, pretrain=cfg.get("mask") is not None),
        perf=PerfConfig.from_dict(group_values(cfg, "perf"), unknown="error"),
    )


def optional_callbacks(cfg: DictConfig, run_dir: str | None) -> list[pl.Callback]:
    """The probe (pre-training only: the fine-tuning config has no `probe`), the pictures and the
    progress display (none when trainer.enable_progress_bar=false)."""
    callbacks: list[pl.Callback] = []
    probe = cfg.get("probe")
    if probe is not None:
        settings = probe_settings(OmegaConf.to_container(probe, resolve=True))
        if settings.enabled is not False:
            callbacks.append(OnlineProbe(settings, run_dir))
    viz = group_config(cfg, "viz", VizConfig, unknown="error")
    if run_dir and viz is not None and viz.every_n_epochs:
        callbacks.append(ReconstructionPictures(os.path.join(run_dir, "pictures"), viz))
    progress = cfg.get("progress")
    if cfg.trainer.get("enable_progress_bar", True) is not False and progress is not None:
        callbacks.append(build_progress(ProgressConfig.from_dict(progress)))
    return callbacks
