"""LightningModule for masked-video pre-training around the plain VideoMAEPretrain model."""

import logging

import numpy as np
import pytorch_lightning as pl
import torch

from videomae.masking import MaskGenerator
from videomae.models import create_pretrain_model
from videomae.pixels import normalize_uint8
from videomae.training.optim import adamw_with_schedule, param_group_names

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Too many steps in a row had a NaN or infinite loss."""


def step_seed(seed: int, step: int, rank: int) -> int:
    """A distinct, reproducible seed for every (run seed, step, rank)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)


class PretrainModule(pl.LightningModule):
    """`model`: name and constructor overrides; `mask`: type and ratio; `optim`: the recipe.

    All three are plain dicts stored in the checkpoint, so a checkpoint rebuilds its own model.
    """

    def __init__(
        self,
        model: dict,
        mask: dict,
        optim: dict,
        seed: int = 0,
        max_nonfinite_steps: int = 20,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.nonfinite_in_a_row = 0
        self.nonfinite_total = 0
        self.model = create_pretrain_model(**model)
        self.mask_generator = MaskGenerator(
            mask["type"], float(mask["ratio"]), self.model.grid, float(mask.get("decoder_ratio", 0.0))
        )
        # Decided here, on the plain model: configure_optimizers may see it sharded by FSDP.
        self.param_names = param_group_names(self.model, optim["weight_decay"])
        if compile:
            self.model.compile()  # in place: state-dict names stay the same

    def on_fit_start(self) -> None:
        # Augmentations in loader workers (or, with num_workers=0, here) come from the global
        # generators: a different stream for every rank.
        pl.seed_everything(self.hparams.seed + self.global_rank, workers=True, verbose=False)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Masks and drop path depend only on (seed, step, rank): the same after a resume.
        torch.manual_seed(step_seed(self.hparams.seed, self.global_step, self.global_rank))

    def on_before_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        # Skipped videos (batch["skipped"], batch["failed"]) are counted by callbacks.SkippedVideos.
        video = batch["video"]
        if video.ndim == 6:  # repeated sampling: (B, num_sample, C, T, H, W) -> one clip per row
            batch["video"] = video.flatten(0, 1)
        return batch

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # Normalized here, not before: FSDP's mixed precision casts a step's float inputs to bf16,
        # and the pixel target is computed from these in fp32. It leaves the uint8 batch alone.
        videos = normalize_uint8(batch["video"])
        mask, targets = self.mask_generator.draw(videos.shape[0], videos.device)
        loss, _ = self.model(videos, mask, targets)
        if not self.all_ranks_finite(loss):
            return self.skip_nonfinite_step()
        self.nonfinite_in_a_row = 0
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], prog_bar=True)
        return loss

    def all_ranks_finite(self, loss: torch.Tensor) -> bool:
        """One answer for all ranks, so that every rank skips the same steps (DDP stays in step)."""
        finite = torch.isfinite(loss.detach()).float()
        return bool(self.trainer.strategy.reduce(finite, reduce_op="min") > 0)

    def skip_nonfinite_step(self) -> None:
        """Skip the optimizer step (returning None does that); stop after too many in a row."""
        if self.nonfinite_in_a_row == 0:
            self.first_nonfinite_step = self.global_step
        self.nonfinite_in_a_row += 1
        self.nonfinite_total += 1
        self.log("train/nonfinite_steps", float(self.nonfinite_total))
        log.warning(
            "non-finite loss at step %d (%d in a row): step skipped",
            self.global_step,
            self.nonfinite_in_a_row,
        )
        if self.nonfinite_in_a_row >= self.hparams.max_nonfinite_steps:
            raise NonFiniteLossError(
                f"the loss was NaN or infinite for {self.nonfinite_in_a_row} steps in a row (steps "
                f"{self.first_nonfinite_step} to {self.global_step}); no update was applied from "
                "them, the last checkpoint written before them is intact (lower optim.base_lr, or raise "
                "max_nonfinite_steps to tolerate more)"
            )
        return None

    def effective_batch(self) -> int:
        """Videos per optimizer step over all devices, nodes and accumulated batches."""
        trainer = self.trainer
        per_device = self.hparams.optim["batch_per_device"]
        return per_device * trainer.world_size * trainer.accumulate_grad_batches

    def configure_optimizers(self):
        return adamw_with_schedule(self)

    def lr_scheduler_step(self, scheduler, metric) -> None:
        scheduler.step_update(num_updates=self.global_step)
