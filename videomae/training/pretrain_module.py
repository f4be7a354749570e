"""LightningModule for masked-video pre-training around the plain VideoMAEPretrain model."""

import logging

import torch

from videomae.data.batches import ClipBatch
from videomae.data.resume import derive_seed
from videomae.models import VideoMAEPretrain, create_pretrain_model
from videomae.models.masking import MaskConfig, MaskGenerator
from videomae.training.module import VideoModule

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Too many steps in a row had a NaN or infinite loss."""


class PretrainModule(VideoModule):
    """`model`: name and constructor overrides; `mask`: type and ratio; `optim`: the recipe.

    All three are plain dicts stored in the checkpoint, so a checkpoint rebuilds its own model.
    """

    model: VideoMAEPretrain  # attached in __init__

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
        self.attach_model(create_pretrain_model(**model))
        # `mask` is recorded as given (a dict; an old checkpoint's lacks decoder_ratio) and read here
        self.mask_generator = MaskGenerator.of(MaskConfig.from_dict(mask), self.model.grid)
        self.compile_model(compile)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Masks and drop path depend only on (seed, step, rank): the same after a resume.
        torch.manual_seed(derive_seed(self.hparams.seed, self.global_step, self.global_rank))

    def training_step(self, batch: ClipBatch, batch_idx: int) -> torch.Tensor | None:
        videos = self.pixels(batch["video"])
        mask, targets = self.mask_generator.draw(videos.shape[0], videos.device)
        loss, _ = self.model(videos, mask, targets)
        if not self.all_ranks_finite(loss):
            self.skip_nonfinite_step()
            return None  # Lightning skips the optimizer step
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
