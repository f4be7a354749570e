"""What a pre-training and a fine-tuning run share: config -> model arguments, datamodule,
Trainer, callbacks, resume, fit. `pretrain.run` and `finetune.run` are short compositions of these.
"""

import glob
import inspect
import logging
import os
import signal
import sys
import warnings

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from videomae.checkpoints.io import read_training_checkpoint
from videomae.checkpoints.run_dir import (
    HYDRA_FILES,
    checkpoint_dir,
    earlier_run,
    foreign_entries,
    last_checkpoint,
)
from videomae.data.config import DataConfig
from videomae.data.datamodule import VideoDataModule, create_datamodule
from videomae.data.factory import check_root
from videomae.models.layers import Block
from videomae.training import preemption
from videomae.training.checkpoint_io import AtomicCheckpointIO
from videomae.training.configs import RunConfigs, build_configs
from videomae.training.loggers import LOGGERS, build_logger
from videomae.training.strategies import BlockFSDPStrategy
from videomae.utils.atomic_files import clean_stale_temp_files
from videomae.utils.errors import ConfigError

RESUME_WORDS = (None, "", "null", "last", "auto")


class _DropLines(logging.Filter):
    """Drops log records whose message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


# Lightning's advertisements and its note on sizing the schedule: every run would print them.
LIGHTNING_TIPS = ("💡 Tip:", "Loading `train_dataloader` to estimate number of stepping batches")


def quiet_warnings() -> None:
    """Lightning lines that every run would print and that describe intended behaviour; a line
    that points to a real problem (an unused GPU, a misconfigured logger) still shows."""
    rank_zero_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _DropLines) for f in rank_zero_log.filters):
        rank_zero_log.addFilter(_DropLines(LIGHTNING_TIPS))
    # A resume writes into its own checkpoint directory (a fresh start there is refused: resume_from).
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # Lightning's own use of a deprecated torch.utils._pytree name, not ours.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # The multi-view test drops the distributed sampler's padded repeats by video id.
    warnings.filterwarnings("ignore", message=r".*it is recommended to use `Trainer\(devices=1")
    # The fine-tuning EMA copy is in eval mode on purpose.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training")


def start(cfg: DictConfig, run_dir: str, kind: str) -> RunConfigs:
    """A run's first steps on every rank: its settings built (the validation), clean run
    directory, seeded generators."""
    quiet_warnings()
    preemption.install()
    configs = build_configs(cfg, kind)
    clean_run_dir(run_dir)
    pl.seed_everything(configs.run.seed, workers=True, verbose=False)
    return configs


# --- config -> constructor arguments --------------------------------------------------------------


def data_config(cfg: DictConfig) -> DataConfig:
    """The checked `data.*` settings; a bad or unknown key fails in one line."""
    return DataConfig.from_mapping(OmegaConf.to_container(cfg.data, resolve=True))


def build_datamodule(cfg: DictConfig, mode: str = "pretrain") -> VideoDataModule:
    """The datamodule of `data.*` for a run of `mode`; it reads no data until its `load()`."""
    return create_datamodule(data_config(cfg), mode, seed=cfg.seed)


def labeled_datamodule(cfg: DictConfig) -> VideoDataModule:
    """The fine-tuning datamodule with its index read, so that the classes are known up front."""
    datamodule = build_datamodule(cfg, mode="finetune")
    datamodule.load()
    if not datamodule.num_classes:
        raise ConfigError(
            f"data.num_classes is not set and dataset={cfg.data.name} defines no classes; "
            "set data.num_classes"
        )
    return datamodule


def check_config(cfg: DictConfig, kind: str) -> RunConfigs:
    """The start-up checks the runs make without building the model or reading data (a sweep
    runs them on every job's config before it launches any: videomae.config.preflight): the run's settings
    built, then what they name: the data's settings and lists, the logger, the checkpoint."""
    configs = build_configs(cfg, kind)
    mode = "finetune" if kind == "finetune" else "pretrain"
    check_root(build_datamodule(cfg, mode=mode).config)  # the directory only: no annotation list is read
    if cfg.logger.name not in LOGGERS:
        raise ConfigError(f"logger={cfg.logger.name!r} is not one of {', '.join(LOGGERS)}")
    if cfg.ckpt_path not in RESUME_WORDS and not os.path.isfile(cfg.ckpt_path):
        raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist")
    return configs


# --- run directory and resume ---------------------------------------------------------------------


def _listing(names: list[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_run_dir(cfg: DictConfig, run_dir: str, hydra_wrote: bool = True) -> None:
    """A fresh run writes only into a directory that is empty or an earlier run's of this
    framework: it replaces metrics.csv, summary.json, probe.json, ..., and a user's files of those
    names must not go. Checked before anything is written (summary.json included); a resume (a
    checkpoint for ckpt_path=last|auto) continues its own directory. `hydra_wrote`: Hydra's .hydra/
    and log there are this run's (False: checked before Hydra starts, videomae.config.preflight)."""
    if rank_zero_only.rank != 0 or not os.path.isdir(run_dir):
        return
    if str(cfg.get("ckpt_path")) in ("last", "auto") and (
        os.path.isfile(last_checkpoint(run_dir)) or glob.glob(os.path.join(run_dir, "hpc_ckpt_*.ckpt"))
    ):
        return
    check_fresh_dir(run_dir, "hydra.run.dir", hydra_wrote)


def check_fresh_dir(run_dir: str, key: str, hydra_wrote: bool = True) -> None:
    """`run_dir` (set by `key`) is new, empty or an earlier run's of this framework; else a
    ConfigError naming what is there. Rank zero only, before the run writes anything."""
    if rank_zero_only.rank != 0 or not os.path.isdir(run_dir):
        return
    foreign = foreign_entries(run_dir)
    if foreign:
        raise ConfigError(
            f"{key}={run_dir} holds {_listing(foreign)}, which no run of this framework "
            f"writes; a run there would mix its files with them: choose a new or empty {key}"
        )
    ours = sorted(e for e in os.listdir(run_dir) if not (hydra_wrote and HYDRA_FILES.match(e)))
    if ours and not earlier_run(run_dir):
        raise ConfigError(
            f"{key}={run_dir} holds {_listing(ours)} but no summary.json of a run of this "
            "framework, so they are not a run's, and a fresh run would replace them: choose a new or "
            f"empty {key}"
        )


def clean_run_dir(run_dir: str) -> None:
    """Remove (and report) the temporary files a killed checkpoint save left in this run
    directory. Rank zero only, before any rank can save: they belong to a dead process."""
    if rank_zero_only.rank != 0:
        return
    for path in clean_stale_temp_files(checkpoint_dir(run_dir), run_dir):
        print(f"removed {path}: a partial checkpoint left by an interrupted save", file=sys.stderr)


def resolve_ckpt_path(ckpt_path: str | None, run_dir: str) -> str | None:
    """`last`: the newest of this run's last.ckpt and the checkpoints Lightning writes on SLURM
    pre-emption (hpc_ckpt_N.ckpt); none there is an error (a mistyped hydra.run.dir must not start
    a new run silently). `auto`: the same, but none yet means a fresh start, said in one line: for
    a job script that is requeued with the same command."""
    if ckpt_path in (None, "", "null"):
        return None
    ckpt_path = str(ckpt_path)
    if ckpt_path in ("last", "auto"):
        candidates = [last_checkpoint(run_dir), *glob.glob(os.path.join(run_dir, "hpc_ckpt_*.ckpt"))]
        existing = [path for path in candidates if os.path.isfile(path)]
        if existing:
            return max(existing, key=os.path.getmtime)
        where = f"{last_checkpoint(run_dir)} (nor {run_dir}/hpc_ckpt_*.ckpt)"
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


def resume_from(cfg: DictConfig, run_dir: str, datamodule: VideoDataModule) -> str | None:
    """The checkpoint to resume (`ckpt_path`), with the data position set from it. A fresh start
    in a directory that holds a run's last.ckpt is refused: it would overwrite that checkpoint."""
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir)
    if ckpt_path is None and os.path.isfile(last_checkpoint(run_dir)):
        raise ConfigError(
            f"hydra.run.dir={run_dir} already holds a run ({last_checkpoint(run_dir)}); resume it "
            "with ckpt_path=last, or choose another hydra.run.dir"
        )
    if ckpt_path is not None:
        needs = "num_classes" if datamodule.mode == "finetune" else "mask"
        step = read_training_checkpoint(ckpt_path, needs=needs, mmap=True)["global_step"]
        datamodule.resumed_batches = step * int(cfg.trainer.get("accumulate_grad_batches", 1))
    return ckpt_path


# --- Trainer --------------------------------------------------------------------------------------


def trainer_kwargs(cfg: DictConfig) -> dict:
    """`trainer.*` for pl.Trainer; `strategy=fsdp` shards per transformer block (one FSDP unit
    per Block, so a large model's parameters are never all gathered at once), on GPUs or CPUs."""
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    if kwargs.get("strategy") == "fsdp":
        # use_orig_params (Lightning's default too): optim.param_groups needs the original parameters.
        kwargs["strategy"] = BlockFSDPStrategy(
            auto_wrap_policy={Block}, sharding_strategy="FULL_SHARD", use_orig_params=True
        )
    return kwargs


def build_trainer(
    cfg: DictConfig, run_dir: str, callbacks=None, logger: bool = True, resuming: bool = False
) -> pl.Trainer:
    """The Trainer for `trainer.*`; `resuming`: the loggers continue the run's logs."""
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
            logger=build_logger(OmegaConf.to_container(cfg.logger, resolve=True), run_dir, resuming)
            if logger
            else False,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO(), *preemption.cluster_plugins()],
        )
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as err:
        # Lightning's own checks of trainer.* values; its message names the argument.
        text = " ".join(str(err).split())
        raise ConfigError(f"trainer.*: pytorch_lightning.Trainer refused these settings: {text}") from None


def fit(trainer: pl.Trainer, module, datamodule, ckpt_path: str | None, run_dir: str) -> None:
    """trainer.fit; on SIGUSR1 under SLURM (checkpoint already saved) requeue the job and exit
    REQUEUED_EXIT; on SIGTERM exit 143 with how to resume."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException:
        if preemption.requested():
            failed = preemption.requeue() if trainer.is_global_zero else None
            if trainer.is_global_zero:
                print(
                    f"pre-empted (SIGUSR1) at step {trainer.global_step}; checkpoint: "
                    f"{last_checkpoint(run_dir)}; "
                    + (f"not requeued: {failed}" if failed else f"requeued SLURM job {preemption.job_id()}")
                )
            if not failed:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the requeue stops every rank
                sys.exit(preemption.REQUEUED_EXIT)
        if trainer.is_global_zero:
            print(
                f"stopped by SIGTERM at step {trainer.global_step}; checkpoint: "
                f"{last_checkpoint(run_dir)}; resume with ckpt_path=last hydra.run.dir={run_dir}"
            )
        sys.exit(128 + signal.SIGTERM)  # the usual "terminated" status, so schedulers requeue
