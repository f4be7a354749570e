"""A run's settings, built once from the composed Hydra config: `build_configs(cfg, kind)` makes
each component's typed settings (defined next to the component: ModelConfig in models, MaskConfig
in masking, OptimConfig in training.optim, ...), and that is the validation: a sweep's preflight
runs it on every job's config (through the runs' `check_config`) and a single run at its start.
The rules between groups (the model's grid and the data's clip size, the pixel statistics and the
channels, EMA and FSDP, the teacher's mask and the student's) are checked here too.
"""

from dataclasses import dataclass, replace

from omegaconf import DictConfig, OmegaConf

from videomae.config.schema import group_config, group_values, validate_data
from videomae.data.video import CHANNELS
from videomae.models import ModelConfig
from videomae.models.masking import MaskConfig, MaskGenerator
from videomae.training.callbacks import CheckpointConfig
from videomae.training.distill_config import DistillConfig
from videomae.training.finetune_module import EmaConfig, MixupConfig
from videomae.training.online_probe_subsets import ProbeConfig, probe_settings
from videomae.training.optim import OptimConfig
from videomae.training.pictures import VizConfig
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.training.progress import ProgressConfig
from videomae.training.timing import PerfConfig
from videomae.utils.config_fields import Settings, optional, rule, setting
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import default_stats, resolve_stats

KINDS = ("pretrain", "finetune", "distill", "probe")


@dataclass(frozen=True, kw_only=True)
class TrainerConfig(Settings):
    """The `trainer.*` arguments whose wrong values Lightning reports late or not at all; the
    others are Lightning's to check (run.build_trainer reports its errors in one line too)."""

    GROUP = "trainer"
    max_steps: int = optional(low=-1)
    max_epochs: int | None = rule(low=-1)
    accumulate_grad_batches: int = optional(low=1)
    log_every_n_steps: int = optional(low=1)
    num_nodes: int = optional(low=1)
    gradient_clip_val: float | None = rule(low=0)
    strategy: str | None = setting(None, checked=False)  # Lightning's (`fsdp`: run.trainer_kwargs)


@dataclass(frozen=True, kw_only=True)
class RunConfig(Settings):
    """The top-level keys of a run."""

    seed: int = setting(0, low=0)
    # steps with a NaN/inf loss are skipped; this many in a row stop the run with an error
    max_nonfinite_steps: int = optional(low=1)


@dataclass(frozen=True)
class RunConfigs:
    """Every component's settings of one run (None: the run's config has no such group)."""

    kind: str
    run: RunConfig
    trainer: TrainerConfig
    model: ModelConfig | None = None
    optim: OptimConfig | None = None
    mask: MaskConfig | None = None
    checkpoint: CheckpointConfig | None = None
    progress: ProgressConfig | None = None
    # pretrain/distill: the online probe's; probe: the protocol's
    probe: ProbeConfig | ProbeProtocolConfig | None = None
    mixup: MixupConfig | None = None
    ema: EmaConfig | None = None
    distill: DistillConfig | None = None
    perf: PerfConfig | None = None
    viz: VizConfig | None = None

    def protocol(self) -> ProbeProtocolConfig:
        """A probe run's `probe.*` (its protocol), checked, with defaults."""
        assert isinstance(self.probe, ProbeProtocolConfig), "build_configs(cfg, 'probe') sets it"
        return self.probe


def build_configs(cfg: DictConfig, kind: str) -> RunConfigs:
    """Every component's settings from the composed config of a `kind` run (see the module
    docstring); the first wrong value ends it with one ConfigError line."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}")
    validate_data(cfg)  # data.*: its schema (videomae.config.schema)
    model = group_config(cfg, "model", ModelConfig)
    mask = group_config(cfg, "mask", MaskConfig) if kind != "finetune" else None
    optim = group_config(cfg, "optim", OptimConfig)
    trainer = TrainerConfig.from_dict(group_values(cfg, "trainer"))
    run = RunConfig.from_dict({k: cfg[k] for k in RunConfig.names() if k in cfg})
    # The probe's `checkpoint` is the encoder's path, not a mapping: no CheckpointConfig then.
    checkpoint = group_config(cfg, "checkpoint", CheckpointConfig)
    progress = group_config(cfg, "progress", ProgressConfig)
    probe_values = group_values(cfg, "probe")
    probe: ProbeConfig | ProbeProtocolConfig | None = None
    if kind == "probe":  # the frozen-evaluation protocol (configs/probe/)
        probe = ProbeProtocolConfig.from_dict(probe_values, unknown="error")
    elif probe_values is not None:  # the online probe of pre-training
        probe = probe_settings(probe_values)
    perf = group_config(cfg, "perf", PerfConfig, unknown="error")
    viz = group_config(cfg, "viz", VizConfig, unknown="error")
    configs = RunConfigs(
        kind, run, trainer, model, optim, mask, checkpoint, progress, probe, perf=perf, viz=viz
    )
    if kind == "finetune":
        configs = finetune_configs(cfg, configs)
    if kind == "distill":
        configs = distill_configs(cfg, configs)
    if model is not None and kind != "probe":
        model_kwargs(cfg)  # the model's grid and pixels against the data's clips
        if mask is not None:
            MaskGenerator.of(mask, token_grid(cfg))
    return configs


def finetune_configs(cfg: DictConfig, configs: RunConfigs) -> RunConfigs:
    mixup = group_config(cfg, "mixup", MixupConfig)
    ema = group_config(cfg, "ema", EmaConfig)
    if ema is not None and ema.enabled and configs.trainer.strategy == "fsdp":
        # timm's EMA update needs unsharded weights
        raise ConfigError(
            "ema.enabled=true does not work with trainer.strategy=fsdp; set ema.enabled=false or "
            "trainer.strategy=ddp"
        )
    return replace(configs, mixup=mixup, ema=ema)


def distill_configs(cfg: DictConfig, configs: RunConfigs) -> RunConfigs:
    if cfg.get("teacher") in (None, "", "???"):
        raise ConfigError(
            "teacher is not set: teacher=PATH (a run's checkpoint, an original .pth or an HF dir)"
        )
    distill = DistillConfig.from_dict(group_values(cfg, "distill"))
    ratio = configs.mask.ratio if configs.mask is not None else None
    if distill.target == "features" and ratio is not None and float(distill.teacher_mask_ratio) > ratio:
        raise ConfigError(
            f"distill.teacher_mask_ratio={distill.teacher_mask_ratio} is above "
            f"mask.ratio={ratio}: the teacher must see every token the student sees"
        )
    return replace(configs, distill=distill)


# --- config -> the model's constructor arguments (what its module records) ------------------------


def model_kwargs(cfg: DictConfig) -> dict:
    """Model constructor arguments: the `model` group plus the input size from `data`."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    ModelConfig.from_dict(model)
    frames, size = cfg.data.num_frames, cfg.data.input_size
    if frames % model["tubelet_size"]:
        raise ConfigError(
            f"data.num_frames={frames} is not divisible by model.tubelet_size={model['tubelet_size']}"
        )
    if size % model["patch_size"]:
        raise ConfigError(
            f"data.input_size={size} is not divisible by model.patch_size={model['patch_size']}"
        )
    return {**model, "num_frames": frames, "img_size": size, **pixel_kwargs(cfg, model.get("in_chans", 3))}


def token_grid(cfg: DictConfig) -> tuple[int, int, int]:
    """The (t, h, w) token grid of the model on the data's clips."""
    kwargs = model_kwargs(cfg)
    size = kwargs["img_size"] // kwargs["patch_size"]
    return (kwargs["num_frames"] // kwargs["tubelet_size"], size, size)


def pixel_kwargs(cfg: DictConfig, in_chans: int) -> dict:
    """The model's input channels and pixel statistics from `data.channels`, `data.mean`, `data.std`;
    nothing for RGB with ImageNet's (so that an RGB run's model arguments stay as they were)."""
    data = cfg.data
    channels = CHANNELS.get(str(data.get("channels", "rgb")))
    if channels is not None and channels != in_chans:
        raise ConfigError(
            f"data.channels={data.channels} gives {channels}-channel frames but model.in_chans={in_chans}; "
            f"set model.in_chans={channels}"
        )
    mean, std = data.get("mean"), data.get("std")
    try:
        stats = resolve_stats(
            in_chans, None if mean is None else list(mean), None if std is None else list(std)
        )
    except ValueError as err:
        raise ConfigError(f"data.mean={mean} data.std={std} (model.in_chans={in_chans}): {err}") from None
    out: dict = {} if in_chans == 3 else {"in_chans": in_chans}
    if stats != default_stats(in_chans):
        out.update(pixel_mean=list(stats[0]), pixel_std=list(stats[1]))
    return out


def optim_hparams(cfg: DictConfig) -> dict:
    """`optim.*` plus the videos per device and step that the learning rates scale with: repeated
    clips (`data.num_sample`) do not count, as in the original code."""
    return {**OmegaConf.to_container(cfg.optim, resolve=True), "batch_per_device": cfg.data.batch_size}
