"""The `logger` config group: csv, wandb (offline unless logged in), tensorboard or none."""

import csv
import netrc
import os

import pytorch_lightning as pl
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

LOGGERS = ("csv", "wandb", "tensorboard", "none")


def wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


class _ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer, continuing the metrics.csv of a resumed run: Lightning's own
    deletes it (with a warning) whenever the directory is not empty, and a resume would lose the
    curve of every step before it."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class ContinuedCSVLogger(CSVLogger):
    _experiment: ExperimentWriter | None  # Lightning's, made on first use (as Lightning types it)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def drop_rows_from(self, step: int) -> None:
        """Drop the rows that a resume from global step `step` logs again: training rows of steps
        `step` and later (a row's step is the number of steps before it), and probe rows past
        `step` (the probe's record of the restored state itself is kept, as in probe.json). A
        row cut short by a kill mid-write goes too."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not os.path.isfile(path):
            return
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
        kept = [row for row in rows if _logged_before(row, step)]
        if len(kept) == len(rows):
            return
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)


def _logged_before(row: dict, step: int) -> bool:
    if None in row or None in row.values():  # fewer or more fields than the header
        return False
    try:
        row_step = int(row.get("step", ""))
    except ValueError:
        return False
    probed = any(value for key, value in row.items() if key.startswith("probe/"))
    return row_step < step or (probed and row_step == step)


class ResumedMetrics(pl.Callback):
    """metrics.csv after a kill and resume holds every step once: the loggers are flushed as a
    checkpoint is written (rows before it are never logged again), and a resume drops the rows
    its training repeats."""

    _aligned = False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # The step Lightning writes on a row counts optimizer steps like global_step, but the
        # epoch loop of a run resumed from an epoch-end checkpoint without validation (fine-tuning
        # on a list with no val split) restarts it one too high: every row after the resume was
        # labelled a step late. Set as the first batch starts: the loop's restart is done by then.
        if not self._aligned:
            trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step
            self._aligned = True

    def on_train_start(self, trainer, pl_module) -> None:
        self._aligned = False
        if trainer.global_step > 0:
            for logger in trainer.loggers:
                if isinstance(logger, ContinuedCSVLogger):
                    logger.drop_rows_from(trainer.global_step)


def build_logger(cfg: dict, run_dir: str, resuming: bool = False) -> Logger | bool:
    """The `logger` group's logger, writing into the run directory; `resuming`: continuing the
    run's own logs (a fresh run starts its metrics.csv anew, its .hydra/ files already there)."""
    name = cfg.get("name")
    if name == "csv":
        stale = os.path.join(run_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not resuming and rank_zero_only.rank == 0 and os.path.isfile(stale):
            os.remove(stale)  # a fresh run's curve starts anew
        return ContinuedCSVLogger(save_dir=run_dir, name="", version="")
    if name == "tensorboard":
        return TensorBoardLogger(save_dir=run_dir, name="", version="", default_hp_metric=False)
    if name == "wandb":
        offline = cfg.get("mode", "auto") == "offline" or (
            cfg.get("mode", "auto") == "auto" and not wandb_logged_in()
        )
        return WandbLogger(
            project=cfg.get("project", "videomae"),
            entity=cfg.get("entity"),
            name=cfg.get("run_name"),
            save_dir=run_dir,
            offline=offline,
        )
    if name == "none":
        return False
    raise ConfigError(f"logger={name!r} is not one of {', '.join(LOGGERS)}")
