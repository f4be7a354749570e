"""The pre-training run behind `scripts/pretrain.py`: config in, checkpoints out."""

import os

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from videomae.data.datamodule import VideoDataModule
from videomae.errors import ConfigError
from videomae.models import MODEL_SIZES
from videomae.training.callbacks import ClipThroughput, SkippedVideos
from videomae.training.loggers import build_logger
from videomae.training.pretrain_module import PretrainModule


def model_kwargs(cfg: DictConfig) -> dict:
    """Model constructor arguments: the `model` group plus the input size from `data`."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("name") not in MODEL_SIZES:
        raise ConfigError(f"model.name={model.get('name')!r} is not one of {', '.join(MODEL_SIZES)}")
    frames, size = cfg.data.num_frames, cfg.data.input_size
    if frames % model["tubelet_size"]:
        raise ConfigError(
            f"data.num_frames={frames} is not divisible by model.tubelet_size={model['tubelet_size']}"
        )
    if size % model["patch_size"]:
        raise ConfigError(
            f"data.input_size={size} is not divisible by model.patch_size={model['patch_size']}"
        )
    return {**model, "num_frames": frames, "img_size": size}


def build_datamodule(cfg: DictConfig, mode: str = "pretrain") -> VideoDataModule:
    data = OmegaConf.to_container(cfg.data, resolve=True)
    if data["batch_size"] < 1:
        raise ConfigError(f"data.batch_size={data['batch_size']} must be at least 1")
    return VideoDataModule(mode=mode, **data)


def resolve_ckpt_path(ckpt_path: str | None, checkpoint_dir: str) -> str | None:
    """`last` resumes this run directory's last checkpoint when there is one (else starts fresh)."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        last = os.path.join(checkpoint_dir, "last.ckpt")
        return last if os.path.isfile(last) else None
    if not os.path.isfile(ckpt_path):
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist")
    return ckpt_path


def build_callbacks(cfg: DictConfig, checkpoint_dir: str, run_dir: str | None = None) -> list[pl.Callback]:
    every = cfg.checkpoint
    return [
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            save_last=True,
            save_top_k=0,
            every_n_epochs=1,
        ),
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            filename="epoch{epoch:04d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=every.every_n_epochs,
        ),
        ClipThroughput(),
        SkippedVideos(
            max_fraction=float(cfg.data.max_skip_fraction),
            check_after=int(cfg.data.skip_check_after),
            report_path=os.path.join(run_dir, "skipped_videos.txt") if run_dir else None,
        ),
    ]


def run(cfg: DictConfig, run_dir: str) -> str:
    """Pre-train as `cfg` says; returns the path of the last checkpoint."""
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    module = PretrainModule(
        model=model_kwargs(cfg),
        mask=OmegaConf.to_container(cfg.mask, resolve=True),
        optim={
            **OmegaConf.to_container(cfg.optim, resolve=True),
            "batch_per_device": cfg.data.batch_size * cfg.data.num_sample,
        },
        seed=cfg.seed,
    )
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, checkpoint_dir)
    trainer = pl.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run_dir,
        logger=build_logger(OmegaConf.to_container(cfg.logger, resolve=True), run_dir),
        callbacks=build_callbacks(cfg, checkpoint_dir, run_dir),
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    last = os.path.join(checkpoint_dir, "last.ckpt")
    if trainer.is_global_zero:
        print(f"pre-training done: {trainer.global_step} steps; checkpoint: {last}")
    return last
