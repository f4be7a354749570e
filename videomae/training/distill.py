"""The distillation run behind `scripts/distill.py`: a frozen teacher's checkpoint and unlabeled
videos in, a student's pre-training checkpoints out (videomae.training.distill_module)."""

import os
import time

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints.run_dir import last_checkpoint
from videomae.errors import ConfigError
from videomae.masking import MaskGenerator
from videomae.training import run as common
from videomae.training.callbacks import build_callbacks
from videomae.training.distill_module import DistillModule, check_settings
from videomae.training.init_weights import NULL, resolve_weights, start_weights
from videomae.training.probe import OnlineProbe
from videomae.training.progress import format_duration
from videomae.training.summary import RunSummary, model_info
from videomae.training.teacher import PRECISIONS


def check_config(cfg: DictConfig) -> None:
    """The start-up checks without building a model or reading data (a sweep runs them on every
    job's config before it launches any). The teacher is read when the module is built."""
    if cfg.get("teacher") in (None, "", "???"):
        raise ConfigError(
            "teacher is not set: teacher=PATH (a run's checkpoint, an original .pth or an HF dir)"
        )
    kwargs = common.model_kwargs(cfg)
    size = kwargs["img_size"] // kwargs["patch_size"]
    grid = (kwargs["num_frames"] // kwargs["tubelet_size"], size, size)
    MaskGenerator(cfg.mask.type, float(cfg.mask.ratio), grid)
    distill = OmegaConf.to_container(cfg.distill, resolve=True)
    check_settings(distill)
    if distill["teacher_precision"] not in PRECISIONS:
        raise ConfigError(
            f"distill.teacher_precision={distill['teacher_precision']!r} is not one of "
            + ", ".join(PRECISIONS)
        )
    if distill["target"] == "features" and float(distill["teacher_mask_ratio"]) > float(cfg.mask.ratio):
        raise ConfigError(
            f"distill.teacher_mask_ratio={distill['teacher_mask_ratio']} is above "
            f"mask.ratio={cfg.mask.ratio}: the teacher must see every token the student sees"
        )
    common.check_config(cfg, mode="pretrain")
    if cfg.get("init") not in NULL:
        resolve_weights(cfg.init, "init")


def run(cfg: DictConfig, run_dir: str) -> str:
    """Distill as `cfg` says; returns the path of the student's last checkpoint. The run directory
    gets a summary.json (status, overrides, steps, speed, losses, probe metrics, checkpoint, teacher)."""
    common.check_run_dir(cfg, run_dir)  # before summary.json: a user's files are never replaced
    with RunSummary(run_dir, "distill", model_info(cfg)) as summary:
        check_config(cfg)
        common.start(cfg, run_dir)
        datamodule = common.build_datamodule(cfg)
        datamodule.load()  # the index, once: the online probe's check below needs its splits
        module = DistillModule(
            model=common.model_kwargs(cfg),
            mask=OmegaConf.to_container(cfg.mask, resolve=True),
            optim=common.optim_hparams(cfg),
            distill=OmegaConf.to_container(cfg.distill, resolve=True),
            teacher=str(cfg.teacher),
            seed=cfg.seed,
            max_nonfinite_steps=cfg.max_nonfinite_steps,
            compile=cfg.compile,
        )
        summary.update(teacher=str(cfg.teacher), target=cfg.distill.target)
        if pl.utilities.rank_zero.rank_zero_only.rank == 0:
            print(f"teacher (frozen):\n{module.teacher_report}", flush=True)
        ckpt_path = common.resume_from(cfg, run_dir, datamodule)
        started_from = start_weights(module.model, cfg.get("init"), ckpt_path, "init")  # the student's
        callbacks = [*build_callbacks(cfg, run_dir), summary.callback]
        for callback in callbacks:
            if isinstance(callback, OnlineProbe):
                callback.check(datamodule)
        trainer = common.build_trainer(cfg, run_dir, callbacks=callbacks, resuming=ckpt_path is not None)
        if trainer.is_global_zero:
            print(started_from)
        started = time.perf_counter()
        common.fit(trainer, module, datamodule, ckpt_path, run_dir)
        last = last_checkpoint(run_dir)
        if trainer.is_global_zero:
            print(summary_line(trainer, time.perf_counter() - started, last, cfg.distill.target))
        init = cfg.get("init")
        summary.update(checkpoint=last, init=None if init in NULL else os.path.abspath(str(init)))
    return last


def summary_line(trainer: pl.Trainer, seconds: float, last: str, target: str) -> str:
    loss = trainer.callback_metrics.get("train/loss")
    parts = [f"distillation ({target}) done: {trainer.global_step} steps in {format_duration(seconds)}"]
    if loss is not None:
        parts.append(f"final loss {float(loss):.4f}")
    return ", ".join(parts) + f"; student checkpoint: {last}"
