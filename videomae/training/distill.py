"""The distillation run behind `scripts/distill.py`: a frozen teacher's checkpoint and unlabeled
videos in, a student's pre-training checkpoints out (videomae.training.distill_module)."""

import os
import time

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints.run_dir import last_checkpoint
from videomae.training import run_steps
from videomae.training.callbacks import build_callbacks
from videomae.training.configs import model_kwargs, optim_hparams
from videomae.training.distill_module import DistillModule
from videomae.training.init_weights import NULL, resolve_weights, start_weights
from videomae.training.online_probe import OnlineProbe
from videomae.training.progress import format_duration
from videomae.training.summary import RunSummary, model_info


def check_config(cfg: DictConfig) -> None:
    """The start-up checks without building a model or reading data (a sweep runs them on every
    job's config before it launches any). The teacher is read when the module is built."""
    run_steps.check_config(cfg, "distill")  # the settings (teacher, distill.*), data, logger, ckpt_path
    if cfg.get("init") not in NULL:
        resolve_weights(cfg.init, "init")


def run(cfg: DictConfig, run_dir: str) -> str:
    """Distill as `cfg` says; returns the path of the student's last checkpoint. The run directory
    gets a summary.json (status, overrides, steps, speed, losses, probe metrics, checkpoint, teacher)."""
    run_steps.check_run_dir(cfg, run_dir)  # before summary.json: a user's files are never replaced
    with RunSummary(run_dir, "distill", model_info(cfg)) as summary:
        check_config(cfg)
        configs = run_steps.start(cfg, run_dir, "distill")
        datamodule = run_steps.build_datamodule(cfg)
        datamodule.load()  # the index, once: the online probe's check below needs its splits
        module = DistillModule(  # the settings as the checkpoint records them (plain values)
            model=model_kwargs(cfg),
            mask=OmegaConf.to_container(cfg.mask, resolve=True),
            optim=optim_hparams(cfg),
            distill=OmegaConf.to_container(cfg.distill, resolve=True),
            teacher=str(cfg.teacher),
            seed=configs.run.seed,
            max_nonfinite_steps=cfg.max_nonfinite_steps,
            compile=cfg.compile,
        )
        summary.update(teacher=str(cfg.teacher), target=cfg.distill.target)
        if pl.utilities.rank_zero.rank_zero_only.rank == 0:
            print(f"teacher (frozen):\n{module.teacher_report}", flush=True)
        ckpt_path = run_steps.resume_from(cfg, run_dir, datamodule)
        started_from = start_weights(module.model, cfg.get("init"), ckpt_path, "init")  # the student's
        callbacks = [*build_callbacks(cfg, run_dir), summary.callback]
        for callback in callbacks:
            if isinstance(callback, OnlineProbe):
                callback.check(datamodule)
        trainer = run_steps.build_trainer(cfg, run_dir, callbacks=callbacks, resuming=ckpt_path is not None)
        if trainer.is_global_zero:
            print(started_from)
        started = time.perf_counter()
        run_steps.fit(trainer, module, datamodule, ckpt_path, run_dir)
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
