"""The typed schema of the `data`, `model`, `mask`, `optim` and `trainer` settings, checked once at
start-up: a wrong type or range fails with one line naming the key, the value and what is allowed,
instead of a traceback deep inside torch or Lightning, or a silent truncation (1.5 is not an
integer).

Each group is a dataclass whose annotations are the types and whose field metadata are the
ranges. Only keys listed here are checked; a key a group does not list is left to the code that
uses it (a constructor whose signature is checked, or Lightning).
"""

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from videomae.config_fields import check_fields, check_value, rule
from videomae.data.config import DataConfig
from videomae.errors import ConfigError


@dataclass(frozen=True)
class ModelSchema:
    name: str = rule()  # its choices: videomae.models.MODEL_SIZES, checked where the model is built
    in_chans: int = rule(low=1, high=64)  # checkpoints.spec_check.MAX_CHANNELS
    embed_dim: int = rule(low=1)
    depth: int = rule(low=1)
    num_heads: int = rule(low=1)
    decoder_embed_dim: int = rule(low=1)
    decoder_num_heads: int = rule(low=1)
    decoder_depth: int = rule(low=1)
    patch_size: int = rule(low=1)
    tubelet_size: int = rule(low=1)
    mlp_ratio: float = rule(low=0, low_open=True)
    qkv_bias: bool = rule()
    drop_path_rate: float = rule(low=0, high=1, high_open=True)
    init_values: float = rule(low=0)
    norm_pix_loss: bool = rule()
    grad_checkpointing: bool = rule()
    fc_drop_rate: float = rule(low=0, high=1, high_open=True)
    init_scale: float = rule(low=0)


@dataclass(frozen=True)
class MaskSchema:
    # type's choices and ratio's range: videomae.masking.MaskGenerator's, with the paper's values
    type: str = rule()
    ratio: float = rule()
    decoder_ratio: float = rule(low=0, high=1, high_open=True)


@dataclass(frozen=True)
class OptimSchema:
    base_lr: float = rule(low=0, low_open=True)
    min_lr: float = rule(low=0)
    warmup_lr: float = rule(low=0)
    warmup_epochs: float = rule(low=0)
    warmup_steps: int | None = rule(low=0)
    weight_decay: float = rule(low=0)
    betas: list[float] = rule(low=0, high=1, high_open=True, length=2)
    layer_decay: float = rule(low=0, high=1, low_open=True)


@dataclass(frozen=True)
class TrainerSchema:
    """The Trainer arguments whose wrong values Lightning reports late or not at all; the others
    are Lightning's to check (its errors are reported as one line too)."""

    max_steps: int = rule(low=-1)
    max_epochs: int | None = rule(low=-1)
    accumulate_grad_batches: int = rule(low=1)
    log_every_n_steps: int = rule(low=1)
    num_nodes: int = rule(low=1)
    gradient_clip_val: float | None = rule(low=0)


SCHEMAS = {
    "data": DataConfig,  # its own rules, next to the data code
    "model": ModelSchema,
    "mask": MaskSchema,
    "optim": OptimSchema,
    "trainer": TrainerSchema,
}


def validate_group(group: str, values: dict) -> None:
    """Check the keys of one settings group (`data`, `model`, ...) that its schema lists."""
    check_fields(SCHEMAS[group], group, values)


def validate_config(cfg: DictConfig) -> None:
    """Check the whole run configuration once, at start-up (see the module docstring)."""
    for group in SCHEMAS:
        section = cfg.get(group)
        if section is None:
            continue
        values = OmegaConf.to_container(section, resolve=True)
        if isinstance(values, dict):
            validate_group(group, values)
    model = OmegaConf.to_container(cfg.model, resolve=True) if cfg.get("model") is not None else {}
    for width, heads in (("embed_dim", "num_heads"), ("decoder_embed_dim", "decoder_num_heads")):
        if width in model and heads in model and model[width] % model[heads]:
            raise ConfigError(
                f"model.{width}={model[width]} is not divisible by model.{heads}={model[heads]}"
            )
    at_least = {"seed": 0, "max_nonfinite_steps": 1}
    for key, low in at_least.items():
        if key in cfg:
            check_value(key, cfg[key], int, rule(low=low).metadata)
    every = cfg.get("checkpoint")
    if every is not None and "every_n_epochs" in every:
        check_value("checkpoint.every_n_epochs", every.every_n_epochs, int, rule(low=1).metadata)
