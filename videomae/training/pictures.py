"""Reconstruction pictures during pre-training: the same clips and masks every time, so that the
pictures of successive epochs show what the model has learned since."""

import logging
import os
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.strategies import FSDPStrategy

from videomae.models.masking import MaskGenerator
from videomae.models.videomae import VideoMAEPretrain
from videomae.utils.config_fields import Settings, setting
from videomae.utils.pixels import normalize_uint8, to_pixels
from videomae.viz.render import make_grid, reconstruct

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class VizConfig(Settings):
    """`viz.*`: the reconstruction pictures of pre-training (ReconstructionPictures)."""

    GROUP = "viz"
    every_n_epochs: int = setting(20, low=0)  # and at the end of the run; 0: off
    num_clips: int = setting(4, low=1)  # videos spread over the validation split (else the training one)
    seed: int = setting(0, low=0)  # the pictures' mask


class ReconstructionPictures(pl.Callback):
    """Every `viz.every_n_epochs` epochs (and at the end of fit), rank 0 reconstructs `viz.num_clips`
    fixed clips with a fixed mask (`viz.seed`) and logs the picture (videomae.viz.render.make_grid):
    a wandb image, a TensorBoard image, and always `<pictures_dir>/epochNNNN.png`.

    The clips are the centre clips (validation transform) of videos spread evenly over the
    dataset's validation split, or over the training split when there is none; they are decoded
    once, at the start of fit. `every_n_epochs=0` turns the pictures off; FSDP does too.
    """

    def __init__(self, pictures_dir: str, viz: VizConfig | None = None):
        viz = viz or VizConfig()
        self.pictures_dir = pictures_dir
        self.every_n_epochs = viz.every_n_epochs
        self.num_clips = viz.num_clips
        self.seed = viz.seed
        self.clips: torch.Tensor | None = None
        self.captions: list[str] = []
        self.mask: torch.Tensor | None = None
        self.last_step: int | None = None
        self.written: list[str] = []

    @property
    def enabled(self) -> bool:
        return self.every_n_epochs > 0 and self.num_clips > 0

    def on_fit_start(self, trainer, pl_module):
        if not self.enabled or not trainer.is_global_zero:
            return
        if isinstance(trainer.strategy, FSDPStrategy):  # rank 0 alone cannot run a sharded model
            log.warning("reconstruction pictures are off under FSDP (viz.every_n_epochs=0 silences this)")
            return
        if not isinstance(getattr(pl_module, "model", None), VideoMAEPretrain):
            return  # pictures of reconstructions need the pre-training model (with its mask_generator)
        try:
            self.clips, self.captions = self.pick_clips(trainer.datamodule)
        except Exception as err:  # pictures are a nicety: never stop a run for them
            log.warning("reconstruction pictures are off: cannot read clips (%s)", err)
            self.clips = None
            return
        model = pl_module.model
        gen = pl_module.mask_generator
        generator = torch.Generator().manual_seed(self.seed)
        self.mask = MaskGenerator(gen.type, gen.ratio, model.grid)(len(self.clips), generator=generator)

    def pick_clips(self, datamodule) -> tuple[torch.Tensor, list[str]]:
        datasets = getattr(datamodule, "datasets", None)  # set by the datamodule's setup
        if datasets is None:
            raise ValueError("the datamodule has no video index")
        samples = datasets.split("val") or datasets.split("train")
        count = min(self.num_clips, len(samples))
        picks = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(int))
        dataset = datasets.fixed_clips([samples[i] for i in picks])
        items = [dataset[i] for i in range(len(dataset))]
        captions = [os.path.basename(dataset.samples[item["index"]][0]) for item in items]
        return torch.stack([item["video"] for item in items]), captions

    def should_draw(self, trainer) -> bool:
        return self.clips is not None and trainer.is_global_zero and not trainer.sanity_checking

    def on_train_epoch_end(self, trainer, pl_module):
        if self.should_draw(trainer) and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.draw(trainer, pl_module)

    def on_fit_end(self, trainer, pl_module):
        if self.should_draw(trainer) and self.last_step != trainer.global_step:  # the final state
            self.draw(trainer, pl_module)

    @torch.no_grad()
    def draw(self, trainer, pl_module) -> str:
        assert self.clips is not None and self.mask is not None, "draw runs when should_draw: setup set both"
        model = pl_module.model
        was_training = model.training
        model.eval()
        try:
            videos = normalize_uint8(self.clips.to(pl_module.device), model.pixel_mean, model.pixel_std)
            masked, recon, loss = reconstruct(model, videos, self.mask.to(pl_module.device))
        finally:
            model.train(was_training)
        step = trainer.global_step
        epoch = trainer.current_epoch  # after the last epoch Lightning counts one more
        if trainer.max_epochs and trainer.max_epochs > 0:
            epoch = min(epoch, trainer.max_epochs - 1)
        gen = pl_module.mask_generator
        title = f"epoch {epoch}, step {step}: {gen.type} mask {gen.ratio:g}, loss {loss.item():.3f}"
        shown = to_pixels(videos, False, model.pixel_mean, model.pixel_std)
        image = make_grid(shown, masked, recon, title=title, captions=self.captions)
        os.makedirs(self.pictures_dir, exist_ok=True)
        path = os.path.join(self.pictures_dir, f"epoch{epoch:04d}.png")
        image.save(path)
        self.written.append(path)
        self.last_step = step
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("val/reconstruction", [image], step=step, caption=[title])
            elif isinstance(logger, TensorBoardLogger):
                array = torch.from_numpy(np.asarray(image)).permute(2, 0, 1)
                logger.experiment.add_image("val/reconstruction", array, global_step=step)
        return path
