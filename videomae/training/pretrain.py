"""The pre-training run behind `scripts/pretrain.py`: config in, checkpoints out."""

import os
import time

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints.run_dir import last_checkpoint
from videomae.training import run_steps
from videomae.training.callbacks import build_callbacks
from videomae.training.configs import model_kwargs, optim_hparams
from videomae.training.init_weights import NULL, resolve_weights, start_weights
from videomae.training.online_probe import OnlineProbe
from videomae.training.pictures import ReconstructionPictures
from videomae.training.pretrain_module import PretrainModule
from videomae.training.progress import format_duration
from videomae.training.summary import RunSummary, model_info


def check_config(cfg: DictConfig) -> None:
    """The checks a run makes at start-up, without building the model or reading data: a sweep
    runs them on every job's config before it launches any (videomae.config.preflight)."""
    run_steps.check_config(cfg, "pretrain")
    if cfg.get("init") not in NULL:
        resolve_weights(cfg.init, "init")


def run(cfg: DictConfig, run_dir: str) -> str:
    """Pre-train as `cfg` says; returns the path of the last checkpoint. The run directory gets a
    summary.json (status, overrides, steps, speed, losses, probe metrics, checkpoint)."""
    run_steps.check_run_dir(cfg, run_dir)  # before summary.json: a user's files are never replaced
    with RunSummary(run_dir, "pretrain", model_info(cfg)) as summary:
        configs = run_steps.start(cfg, run_dir, "pretrain")
        datamodule = run_steps.build_datamodule(cfg)
        datamodule.load()  # the index, once: the online probe's check below needs its splits
        module = PretrainModule(  # the settings as the checkpoint records them (plain values)
            model=model_kwargs(cfg),
            mask=OmegaConf.to_container(cfg.mask, resolve=True),
            optim=optim_hparams(cfg),
            seed=configs.run.seed,
            max_nonfinite_steps=cfg.max_nonfinite_steps,
            compile=cfg.compile,
        )
        ckpt_path = run_steps.resume_from(cfg, run_dir, datamodule)
        started_from = start_weights(module.model, cfg.get("init"), ckpt_path, "init")
        callbacks = [*build_callbacks(cfg, run_dir), summary.callback]
        for callback in callbacks:
            if isinstance(callback, OnlineProbe):
                callback.check(datamodule)  # before the Trainer: a wrong setting fails with one line
        trainer = run_steps.build_trainer(cfg, run_dir, callbacks=callbacks, resuming=ckpt_path is not None)
        if trainer.is_global_zero:
            print(started_from)
        started = time.perf_counter()
        run_steps.fit(trainer, module, datamodule, ckpt_path, run_dir)
        last = last_checkpoint(run_dir)
        if trainer.is_global_zero:
            print(summary_line(trainer, time.perf_counter() - started, last))
        init = cfg.get("init")
        summary.update(checkpoint=last, init=None if init in NULL else os.path.abspath(str(init)))
    return last


def summary_line(trainer: pl.Trainer, seconds: float, last: str) -> str:
    """One line at the end of a run: what it did and where its results are."""
    metrics = trainer.callback_metrics
    loss = metrics.get("train/loss")
    skipped = int(metrics["data/skipped_videos"].item()) if "data/skipped_videos" in metrics else 0
    parts = [f"pre-training done: {trainer.global_step} steps in {format_duration(seconds)}"]
    if loss is not None:
        parts.append(f"final loss {float(loss):.4f}")
    parts.append(f"{skipped} skipped videos")
    line = ", ".join(parts) + f"; checkpoint: {last}"
    pictures = [cb for cb in trainer.callbacks if isinstance(cb, ReconstructionPictures) and cb.written]
    if pictures:
        line += f"; pictures: {pictures[0].pictures_dir}"
    return line
