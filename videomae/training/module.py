"""`VideoModule`: what the pre-training and fine-tuning LightningModules share.

Both wrap a plain `nn.Module` (`self.model`) and own five duties here: per-rank seeding, parameter
groups named on the plain model, optional torch.compile, the effective batch, and AdamW with the
per-step warm-up + cosine schedule. The subclasses keep what differs: masks and the reconstruction
loss, or mixup, EMA and metrics. Their steps take the batches videomae.data.batches declares:
training and validation a ClipBatch (one clip per row: the datamodule flattens repeated clips and
makes the device-transformed ones), testing a MultiViewBatch.
"""

from typing import cast

import pytorch_lightning as pl
import torch
from torch import nn

from videomae.training.optim import adamw_with_schedule, param_group_names
from videomae.utils.pixels import normalize_uint8


class VideoModule(pl.LightningModule):
    """Subclasses call `super().__init__()`, `self.save_hyperparameters()` (their hyperparameters
    must include `optim` and `seed`), then `attach_model(...)`, and `compile_model` last."""

    model: nn.Module
    param_names: list[dict]  # optimizer groups holding parameter names (training.optim)

    def attach_model(self, model: nn.Module, layer_decay: float = 1.0) -> None:
        self.model = model
        # Decided here, on the plain model: configure_optimizers may see it sharded by FSDP.
        self.param_names = param_group_names(model, self.hparams.optim["weight_decay"], layer_decay)

    def compile_model(self, compile: bool) -> None:
        if compile:
            self.model.compile()  # in place: state-dict names stay the same

    # --- batches ------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        # Augmentations in loader workers (or, with num_workers=0, here) come from the global
        # generators: a different stream for every rank.
        pl.seed_everything(self.hparams.seed + self.global_rank, workers=True, verbose=False)

    def pixels(self, video: torch.Tensor) -> torch.Tensor:
        """A batch's uint8 clips as normalised floats, made inside the step rather than in a
        transfer hook: FSDP's mixed precision casts a step's float inputs to bf16, while the
        normalised-pixel target and mixup want these in fp32. The uint8 batch is left as it is."""
        # Both models set these in __init__ (a plain nn.Module attribute, so mypy sees Tensor | Module).
        mean, std = cast(tuple, self.model.pixel_mean), cast(tuple, self.model.pixel_std)
        return normalize_uint8(video, mean, std)

    # --- optimizer ------------------------------------------------------------------------------

    def effective_batch(self) -> int:
        """Videos per optimizer step over all devices, nodes and accumulated batches."""
        per_device = self.hparams.optim["batch_per_device"]
        return per_device * self.trainer.world_size * self.trainer.accumulate_grad_batches

    def configure_optimizers(self):
        return adamw_with_schedule(self)

    def lr_scheduler_step(self, scheduler, metric) -> None:
        scheduler.step_update(num_updates=self.global_step)
