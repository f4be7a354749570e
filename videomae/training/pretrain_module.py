"""LightningModule for masked-video pre-training around the plain VideoMAEPretrain model."""

import math

import pytorch_lightning as pl
import torch

from videomae.masking import MaskGenerator
from videomae.models import create_pretrain_model
from videomae.models.videomae import IMAGENET_MEAN, IMAGENET_STD
from videomae.training.optim import build_adamw, build_warmup_cosine, scaled_lr, warmup_steps_for


def normalize_uint8(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, T, H, W) -> float normalized with the ImageNet mean and std, on its device."""
    mean = torch.tensor(IMAGENET_MEAN, device=video.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=video.device).view(1, 3, 1, 1, 1)
    return (video.float() / 255.0 - mean) / std


class PretrainModule(pl.LightningModule):
    """`model`: name and constructor overrides; `mask`: type and ratio; `optim`: the recipe.

    All three are plain dicts stored in the checkpoint, so a checkpoint rebuilds its own model.
    """

    def __init__(self, model: dict, mask: dict, optim: dict, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model = create_pretrain_model(**model)
        self.mask_generator = MaskGenerator(mask["type"], float(mask["ratio"]), self.model.grid)

    def on_fit_start(self) -> None:
        # Masks are drawn on the device from the global generator, and augmentations in loader
        # workers (or, with num_workers=0, here) from the global ones: a stream for every rank.
        pl.seed_everything(self.hparams.seed + self.global_rank, workers=True, verbose=False)

    def on_before_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        # Skipped videos (batch["skipped"], batch["failed"]) are counted by callbacks.SkippedVideos.
        video = batch["video"]
        if video.ndim == 6:  # repeated sampling: (B, num_sample, C, T, H, W) -> one clip per row
            batch["video"] = video.flatten(0, 1)
        return batch

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        batch["video"] = normalize_uint8(batch["video"])
        return batch

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        videos = batch["video"]
        mask = self.mask_generator(videos.shape[0], videos.device)
        loss, _ = self.model(videos, mask)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], prog_bar=True)
        return loss

    def effective_batch(self) -> int:
        """Clips per optimizer step over all devices, nodes and accumulated batches."""
        trainer = self.trainer
        per_device = self.hparams.optim["batch_per_device"]
        return per_device * trainer.world_size * trainer.accumulate_grad_batches

    def configure_optimizers(self):
        cfg = self.hparams.optim
        lr = scaled_lr(cfg["base_lr"], self.effective_batch())
        optimizer = build_adamw(
            self.model, lr, cfg["weight_decay"], cfg["betas"], fused=self.device.type == "cuda"
        )
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches)
        warmup = warmup_steps_for(cfg["warmup_epochs"], steps_per_epoch, cfg.get("warmup_steps"))
        scheduler = build_warmup_cosine(optimizer, total, warmup, cfg["warmup_lr"], cfg["min_lr"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lr_scheduler_step(self, scheduler, metric) -> None:
        scheduler.step_update(num_updates=self.global_step)
