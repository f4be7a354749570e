"""The online probe: how good the encoder's frozen features are, while it pre-trains.

Before the first step (the random-initialisation baseline) and every `every_n_epochs` epochs
(and at the end), the frozen encoder embeds a fixed labeled subset of the training list and a
fixed subset of the validation list: eval mode, all tokens, mean-pooled after the encoder's norm
(videomae.eval.features.pooled_features), one centre clip per video (the fine-tuning validation view).
A weighted kNN and a linear classifier (videomae.eval.probe_math) then give `probe/knn_top1` and
`probe/linear_top1`, logged with the epoch and step, appended to `<run_dir>/probe.json` and
printed as one line.

The probe leaves training exactly as it was: every random generator is restored afterwards and
the training loader is never touched, so a run gives the same losses with the probe on or off.
"""

import json
import logging
import os
import random
import time
from contextlib import contextmanager

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import FSDPStrategy

from videomae.eval.probe_math import knn_top1, linear_top1
from videomae.training.online_probe_attentive import attentive_top1
from videomae.training.online_probe_embed import embed_subsets
from videomae.training.online_probe_subsets import (
    ProbeConfig,
    probe_subsets,
    why_not_probed,
)
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

log = logging.getLogger(__name__)


@contextmanager
def preserved_rng(device: torch.device):
    """Every global random generator (Python, numpy, torch CPU and this CUDA device) as before."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if (device.type == "cuda")
        else []
    )
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


class OnlineProbe(pl.Callback):
    """kNN and linear top-1 of the frozen encoder's features (see the module docstring).

    `settings`: the `probe` config's (probe_settings). `enabled="auto"` turns the probe on when
    the training list has labels (at least two classes), `True` requires them, `False` is off.
    Under DDP every rank embeds its share of the videos and rank 0 computes and logs from all of
    them, each video once. FSDP turns it off (a sharded encoder cannot run outside its forward).
    """

    def __init__(self, settings: ProbeConfig, run_dir: str | None = None):
        self.settings = settings
        self.path = os.path.join(run_dir, "probe.json") if run_dir else None
        self.active = False
        self.samples: list[tuple[str, int]] = []
        self.num_train = 0
        self.num_classes = 0
        self.history: list[dict] = []
        self.last_step: int | None = None
        self.off_reason: str | None = None  # why the data or the settings leave nothing to probe

    # --- which videos -------------------------------------------------------------------------

    def choose(self, datamodule) -> tuple[list, list, str] | None:
        """(training videos, validation videos, their source), or None when the data has no
        labels to probe with (a ConfigError instead with enabled=true)."""
        s = self.settings
        splits = datamodule.datasets.index.splits
        train, val, source = probe_subsets(splits, s.train_videos, s.val_videos)
        self.off_reason = why_not_probed(splits, train, val, s.train_videos)
        if self.off_reason is None:
            return train, val, source
        if s.enabled is True:
            raise ConfigError(
                f"probe.enabled=true, but {self.off_reason} (data.root={datamodule.config.root_dir}; or set "
                "probe.enabled=auto or false)"
            )
        return None

    def check(self, datamodule) -> None:
        """Fail before training starts when enabled=true meets unlabeled data (the runs load the
        index before they build the Trainer)."""
        if getattr(datamodule, "datasets", None) is not None:
            self.choose(datamodule)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit" or self.settings.enabled is False:
            return
        datamodule = trainer.datamodule
        if getattr(datamodule, "datasets", None) is None:
            return
        s = self.settings
        chosen = self.choose(datamodule)
        if chosen is None:
            if trainer.is_global_zero and s.enabled == "auto":
                print(f"probe: off ({self.off_reason})", flush=True)
            return
        train, val, source = chosen
        if isinstance(trainer.strategy, FSDPStrategy):
            log.warning("the online probe is off under FSDP (probe.enabled=false silences this)")
            return
        self.samples, self.num_train = train + val, len(train)
        self.num_classes = int(datamodule.num_classes or max(label for _, label in self.samples) + 1)
        self.dataset = datamodule.datasets.centre_view(self.samples, max_consecutive_failures=1)
        self.source = source
        workers = s.num_workers
        self.num_workers = int(datamodule.config.num_workers if workers is None else workers)
        self.active = True
        if trainer.is_global_zero:
            print(
                f"probe: {len(train)} training / {len(val)} validation videos (from {source}), "
                f"{self.num_classes} classes, every {s.every_n_epochs} epochs",
                flush=True,
            )

    # --- when ---------------------------------------------------------------------------------

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.active:
            return
        self.history = self.read_history(trainer.global_step) if trainer.is_global_zero else []
        if trainer.global_step == 0:  # a fresh start: the random-initialisation baseline
            self.evaluate(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.active or trainer.sanity_checking:
            return
        epoch = self.epochs_done(trainer)
        if float(epoch).is_integer() and int(epoch) % self.settings.every_n_epochs == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.active and self.last_step != trainer.global_step:  # the final state
            self.evaluate(trainer, pl_module)

    @staticmethod
    def epochs_done(trainer) -> int | float:
        """Epochs trained so far, from the step counter (exact after a resume, unlike Lightning's
        epoch counter at an epoch's end); a fraction when the run stopped mid-epoch."""
        per_epoch = max(int(trainer.num_training_batches), 1)
        epochs = trainer.global_step * trainer.accumulate_grad_batches / per_epoch
        return int(epochs) if float(epochs).is_integer() else round(epochs, 3)

    # --- what ---------------------------------------------------------------------------------

    def evaluate(self, trainer, pl_module) -> dict | None:
        if self.last_step == trainer.global_step:
            return None  # this state was probed already
        self.last_step = trainer.global_step
        started = time.perf_counter()
        model = pl_module.model
        was_training = model.training
        with preserved_rng(pl_module.device), torch.no_grad():
            model.eval()
            try:
                features, positions, failed, tokens = self.embed(trainer, pl_module)
            finally:
                model.train(was_training)
            if not trainer.is_global_zero:
                return None
            return self.report(trainer, features, positions, failed, time.perf_counter() - started, tokens)

    def embed(self, trainer, pl_module):
        s = self.settings
        attentive = s.kind == "attentive"
        return embed_subsets(trainer, pl_module, self.dataset, len(self.samples), s.batch_size,
                             self.num_workers, attentive)  # fmt: skip

    def report(self, trainer, features, positions, failed, seconds_so_far: float, tokens=None) -> dict | None:
        s = self.settings
        started = time.perf_counter()
        labels = torch.tensor([label for _, label in self.samples], device=features.device)[positions]
        is_train = positions < self.num_train
        train_f, train_y = features[is_train], labels[is_train]
        val_f, val_y = features[~is_train], labels[~is_train]
        epoch = self.epochs_done(trainer)
        skipped = len(self.samples) - len(torch.unique(positions))
        for line in failed:
            log.warning("probe: skipped unreadable video %s", line)
        if len(train_f) == 0 or len(val_f) == 0:
            log.warning("probe epoch %s: no readable videos in a subset, no probe values", epoch)
            return None
        knn = knn_top1(train_f, train_y, val_f, val_y, s.knn_k, s.knn_temperature, self.num_classes)
        linear = linear_top1(
            train_f, train_y, val_f, val_y, self.num_classes,
            s.linear_steps, s.linear_lr, s.linear_weight_decay,
        )  # fmt: skip
        step = trainer.global_step
        metrics = {"probe/knn_top1": knn, "probe/linear_top1": linear, "epoch": epoch}
        if tokens is not None:  # probe.kind=attentive: the protocol reported after pre-training
            metrics["probe/attentive_top1"] = attentive_top1(
                tokens[is_train], train_y, tokens[~is_train], val_y, self.num_classes, s
            )
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            # On disk now, before probe.json has the record: Lightning's CSV logger holds rows for
            # 100 steps, and a run killed meanwhile and resumed would keep the record, not the row.
            logger.save()
        record = {
            "epoch": epoch,
            "step": step,
            "knn_top1": knn,
            "linear_top1": linear,
            **({"attentive_top1": metrics["probe/attentive_top1"]} if tokens is not None else {}),
            "train_videos": len(train_f),
            "val_videos": len(val_f),
            "skipped_videos": skipped,
        }
        self.history.append(record)
        self.write_history()
        seconds = seconds_so_far + time.perf_counter() - started
        note = f", {skipped} unreadable skipped" if skipped else ""
        extra = f" attentive {record['attentive_top1']:.1f}%" if "attentive_top1" in record else ""
        print(
            f"probe epoch {epoch}: knn {knn:.1f}% linear {linear:.1f}%{extra} ({len(train_f)} train / "
            f"{len(val_f)} val videos{note}, {seconds:.1f} s)",
            flush=True,
        )
        return record

    # --- probe.json ---------------------------------------------------------------------------

    def read_history(self, step: int) -> list[dict]:
        """The evaluations of this run so far, when it resumes: those up to the restored step (a
        later one belongs to training that the resume repeats)."""
        if self.path is None or not os.path.isfile(self.path):
            return []
        try:
            with open(self.path) as f:
                history = json.load(f)
        except (OSError, ValueError):
            return []
        return [r for r in history if isinstance(r, dict) and r.get("step", step + 1) <= step] if step else []

    def write_history(self) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            json.dump(self.history, f, indent=1)
