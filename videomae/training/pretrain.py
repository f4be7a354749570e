"""The pre-training run behind `scripts/pretrain.py`: config in, checkpoints out."""

import glob
import inspect
import os
import signal
import sys
import time
import warnings

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from videomae.checkpoints.io import clean_stale_temp_files, read_training_checkpoint
from videomae.config_schema import validate_config
from videomae.data.datamodule import VideoDataModule
from videomae.errors import ConfigError
from videomae.masking import MaskGenerator
from videomae.models import MODEL_SIZES
from videomae.training.callbacks import ClipThroughput, SaveOnSigterm, SkippedVideos
from videomae.training.checkpoint_io import AtomicCheckpointIO
from videomae.training.loggers import LOGGERS, build_logger
from videomae.training.pictures import ReconstructionPictures
from videomae.training.pretrain_module import PretrainModule
from videomae.training.probe import OnlineProbe, probe_settings
from videomae.training.progress import STYLES, build_progress, format_duration
from videomae.training.summary import RunSummary, model_info


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
    known = set(inspect.signature(VideoDataModule).parameters) - {"mode", "seed"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"data.{unknown[0]} is not a data setting; known: {', '.join(sorted(known))}")
    return VideoDataModule(mode=mode, seed=cfg.seed, **data)


def resolve_ckpt_path(ckpt_path: str | None, run_dir: str) -> str | None:
    """`last`: the newest of this run's last.ckpt and the checkpoints Lightning writes on SLURM
    pre-emption (hpc_ckpt_N.ckpt); none there is an error (a mistyped hydra.run.dir must not start
    a new run silently). `auto`: the same, but none yet means a fresh start, said in one line: for
    a job script that is requeued with the same command."""
    if ckpt_path in (None, "", "null"):
        return None
    ckpt_path = str(ckpt_path)
    if ckpt_path in ("last", "auto"):
        candidates = [
            os.path.join(run_dir, "checkpoints", "last.ckpt"),
            *glob.glob(os.path.join(run_dir, "hpc_ckpt_*.ckpt")),
        ]
        existing = [path for path in candidates if os.path.isfile(path)]
        if existing:
            return max(existing, key=os.path.getmtime)
        where = f"{os.path.join(run_dir, 'checkpoints', 'last.ckpt')} (nor {run_dir}/hpc_ckpt_*.ckpt)"
        if ckpt_path == "last":
            raise ConfigError(
                f"ckpt_path=last: nothing to resume: no {where}; check hydra.run.dir, or use "
                "ckpt_path=auto to start fresh when there is no checkpoint yet"
            )
        if rank_zero_only.rank == 0:
            print(f"ckpt_path=auto: no checkpoint yet in {run_dir}: starting fresh")
        return None
    if not os.path.isfile(ckpt_path):
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist (or: last, auto, null)")
    return ckpt_path


def clean_run_dir(run_dir: str) -> None:
    """Remove (and report) the temporary files a killed checkpoint save left in this run
    directory. Rank zero only, before any rank can save: they belong to a dead process."""
    if rank_zero_only.rank != 0:
        return
    for path in clean_stale_temp_files(os.path.join(run_dir, "checkpoints"), run_dir):
        print(f"removed {path}: a partial checkpoint left by an interrupted save", file=sys.stderr)


def optim_hparams(cfg: DictConfig) -> dict:
    """`optim.*` plus the videos per device and step that the learning rates scale with: repeated
    clips (`data.num_sample`) do not count, as in the original code."""
    return {**OmegaConf.to_container(cfg.optim, resolve=True), "batch_per_device": cfg.data.batch_size}


def trainer_kwargs(cfg: DictConfig) -> dict:
    """`trainer.*` for pl.Trainer; `strategy=fsdp` shards per transformer block (one FSDP unit
    per Block, so a large model's parameters are never all gathered at once), on GPUs or CPUs."""
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    if kwargs.get("strategy") == "fsdp":
        from videomae.models.layers import Block
        from videomae.training.strategies import BlockFSDPStrategy

        # use_orig_params (Lightning's default too): optim.param_groups needs the original parameters.
        kwargs["strategy"] = BlockFSDPStrategy(
            auto_wrap_policy={Block}, sharding_strategy="FULL_SHARD", use_orig_params=True
        )
    return kwargs


def build_callbacks(cfg: DictConfig, checkpoint_dir: str, run_dir: str | None = None) -> list[pl.Callback]:
    every = cfg.checkpoint
    configured = [instantiate(spec) for spec in (cfg.get("callbacks") or {}).values()]
    return [
        ModelCheckpoint(  # a rolling last.ckpt, rewritten (atomically) at every epoch end
            dirpath=checkpoint_dir,
            filename="last",
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
        ),
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            filename="epoch{epoch:04d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=every.every_n_epochs,
        ),
        ClipThroughput(),
        SaveOnSigterm(checkpoint_dir),
        SkippedVideos(
            max_fraction=float(cfg.data.max_skip_fraction),
            check_after=int(cfg.data.skip_check_after),
            report_path=os.path.join(run_dir, "skipped_videos.txt") if run_dir else None,
        ),
        *extra_callbacks(cfg, run_dir),
        *configured,
    ]


def extra_callbacks(cfg: DictConfig, run_dir: str | None) -> list[pl.Callback]:
    """The online probe (`probe.*`), reconstruction pictures (`viz.*`) and progress (`progress.*`;
    none when trainer.enable_progress_bar=false)."""
    callbacks = []
    probe = cfg.get("probe")
    if probe is not None:  # pre-training only: the fine-tuning config has no `probe`
        settings = probe_settings(OmegaConf.to_container(probe, resolve=True))
        if settings["enabled"] is not False:
            callbacks.append(OnlineProbe(settings, run_dir))
    viz = cfg.get("viz")
    if run_dir and viz is not None and viz.every_n_epochs:
        callbacks.append(
            ReconstructionPictures(
                os.path.join(run_dir, "pictures"), viz.every_n_epochs, viz.num_clips, viz.seed
            )
        )
    progress = cfg.get("progress")
    if cfg.trainer.get("enable_progress_bar", True) is not False and progress is not None:
        callbacks.append(build_progress(progress.style, progress.every_n_seconds))
    return callbacks


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


def resume_from(cfg: DictConfig, run_dir: str, datamodule: VideoDataModule) -> str | None:
    """The checkpoint to resume (`ckpt_path`), with the data position set from it."""
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir)
    if ckpt_path is not None:
        needs = "num_classes" if datamodule.mode == "finetune" else "mask"
        step = read_training_checkpoint(ckpt_path, needs=needs, mmap=True)["global_step"]
        datamodule.resumed_batches = step * int(cfg.trainer.get("accumulate_grad_batches", 1))
    return ckpt_path


def build_trainer(cfg: DictConfig, run_dir: str, callbacks=None, logger: bool = True) -> pl.Trainer:
    kwargs = trainer_kwargs(cfg)
    unknown = sorted(set(kwargs) - set(inspect.signature(pl.Trainer).parameters))
    if unknown:
        raise ConfigError(
            f"trainer.{unknown[0]}={kwargs[unknown[0]]} is not a pytorch_lightning.Trainer argument"
        )
    try:
        return pl.Trainer(
            **kwargs,
            default_root_dir=run_dir,
            logger=build_logger(OmegaConf.to_container(cfg.logger, resolve=True), run_dir)
            if logger
            else False,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
        )
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as err:
        # Lightning's own checks of trainer.* values; its message names the argument.
        text = " ".join(str(err).split())
        raise ConfigError(f"trainer.*: pytorch_lightning.Trainer refused these settings: {text}") from None


def fit(trainer: pl.Trainer, module, datamodule, ckpt_path: str | None, run_dir: str) -> None:
    """trainer.fit; on SIGTERM (checkpoint already saved) exit 143 with how to resume."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException:
        if trainer.is_global_zero:
            print(
                f"stopped by SIGTERM at step {trainer.global_step}; checkpoint: "
                f"{os.path.join(run_dir, 'checkpoints', 'last.ckpt')}; resume with ckpt_path=last "
                f"hydra.run.dir={run_dir}"
            )
        sys.exit(128 + signal.SIGTERM)  # the usual "terminated" status, so schedulers requeue


def check_config(cfg: DictConfig, mode: str = "pretrain") -> None:
    """The checks a run makes at start-up, without building the model or reading data: a sweep
    runs them on every job's config before it launches any (videomae.sweep)."""
    kwargs = model_kwargs(cfg)
    if mode == "pretrain":
        size = kwargs["img_size"] // kwargs["patch_size"]
        grid = (kwargs["num_frames"] // kwargs["tubelet_size"], size, size)
        mask = cfg.mask
        MaskGenerator(mask.type, float(mask.ratio), grid, float(mask.get("decoder_ratio", 0.0)))
    build_datamodule(cfg, mode=mode)
    if cfg.logger.name not in LOGGERS:
        raise ConfigError(f"logger={cfg.logger.name!r} is not one of {', '.join(LOGGERS)}")
    if cfg.get("progress") is not None and cfg.progress.style not in STYLES:
        raise ConfigError(f"progress.style={cfg.progress.style!r} is not one of {', '.join(STYLES)}")
    if cfg.ckpt_path not in (None, "", "null", "last", "auto") and not os.path.isfile(cfg.ckpt_path):
        raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist")


def run(cfg: DictConfig, run_dir: str) -> str:
    """Pre-train as `cfg` says; returns the path of the last checkpoint. The run directory gets a
    summary.json (status, overrides, steps, speed, losses, probe metrics, checkpoint)."""
    with RunSummary(run_dir, "pretrain", model_info(cfg)) as summary:
        last = train(cfg, run_dir, summary)
        summary.update(checkpoint=last)
    return last


def train(cfg: DictConfig, run_dir: str, summary: RunSummary) -> str:
    """The pre-training itself; `summary` collects its statistics."""
    # The module, not the datamodule, owns device-side batch handling: that is intended.
    warnings.filterwarnings("ignore", message=r".*overridden `on_(before|after)_batch_transfer`")
    validate_config(cfg)
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    clean_run_dir(run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    module = PretrainModule(
        model=model_kwargs(cfg),
        mask=OmegaConf.to_container(cfg.mask, resolve=True),
        optim=optim_hparams(cfg),
        seed=cfg.seed,
        max_nonfinite_steps=cfg.max_nonfinite_steps,
        compile=cfg.compile,
    )
    ckpt_path = resume_from(cfg, run_dir, datamodule)
    callbacks = [*build_callbacks(cfg, checkpoint_dir, run_dir), summary.callback]
    for callback in callbacks:
        if isinstance(callback, OnlineProbe):
            callback.check(datamodule)  # before the Trainer: a wrong setting fails with one line
    trainer = build_trainer(cfg, run_dir, callbacks=callbacks)
    started = time.perf_counter()
    fit(trainer, module, datamodule, ckpt_path, run_dir)
    last = os.path.join(checkpoint_dir, "last.ckpt")
    if trainer.is_global_zero:
        print(summary_line(trainer, time.perf_counter() - started, last))
    return last
