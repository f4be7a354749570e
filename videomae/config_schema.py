"""The typed schema of the `data`, `model`, `mask`, `optim` and `trainer` settings, checked once at
start-up: a wrong type or range fails with one line naming the key, the value and what is allowed,
instead of a traceback deep inside torch or Lightning, or a silent truncation (1.5 is not an
integer).

Each group is a dataclass whose annotations are the types and whose field metadata are the
ranges. Only keys listed here are checked; a key a group does not list is left to the code that
uses it (a constructor whose signature is checked, or Lightning).
"""

import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from videomae.errors import ConfigError


def rule(low=None, high=None, low_open=False, high_open=False, choices=None, length=None) -> Any:
    """A field's allowed values: [low, high] (open ends as asked), or one of `choices`."""
    return field(
        default=None,
        metadata=dict(
            low=low, high=high, low_open=low_open, high_open=high_open, choices=choices, length=length
        ),
    )


@dataclass(frozen=True)
class DataSchema:
    name: str = rule()
    root: str | None = rule()
    layout: str = rule(choices=("auto", "list", "official", "folder"))
    split: int = rule(low=1)
    train_list: str = rule()
    val_list: str | None = rule()
    test_list: str | None = rule()
    num_classes: int | None = rule(low=1)
    train_per_class: int | None = rule(low=1)
    num_frames: int = rule(low=1)
    sampling: str = rule()  # its choices are the datamodule's (videomae.data.sampling.SAMPLING)
    pretrain_sampling: str | None = rule()
    sampling_rate: int = rule(low=1)
    target_fps: float | None = rule(low=0, low_open=True)
    clip_seconds: float | None = rule(low=0, low_open=True)
    input_size: int = rule(low=1)
    scales: list[float] = rule(low=0, high=1, low_open=True)
    flip: bool = rule()
    num_sample: int = rule(low=1)
    decode_short_side: int | None = rule(low=1)
    test_clips: int = rule(low=1)
    test_crops: int = rule(low=1)
    augment: dict | None = rule()
    batch_size: int = rule(low=1)
    test_batch_size: int | None = rule(low=1)
    num_workers: int = rule(low=0)
    pin_memory: bool = rule()
    max_skip_fraction: float = rule(low=0, high=1, low_open=True)
    skip_check_after: int = rule(low=0)
    decode_timeout: float | None = rule(low=0, low_open=True)
    backend: str = rule(choices=("auto", "decord", "pyav", "torchcodec"))  # data.decoders.CHOICES
    channels: str = rule(choices=("rgb", "gray", "rgba"))  # videomae.data.video.CHANNELS
    mean: list[float] | None = rule()  # per channel; checked with model.in_chans (training.run)
    std: list[float] | None = rule(low=0, low_open=True)
    device_transforms: bool = rule()
    synthetic: dict | None = rule()


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
    "data": DataSchema,
    "model": ModelSchema,
    "mask": MaskSchema,
    "optim": OptimSchema,
    "trainer": TrainerSchema,
}

KIND = {
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    str: "a string",
    dict: "a mapping",
}


def _allowed(typ, meta) -> str:
    """`an integer >= 1`, `a number in (0, 1]`, `one of tube, random`, ..."""
    if meta.get("choices"):
        return f"one of {', '.join(meta['choices'])}"
    if typ is bool:
        return "true or false"
    text = KIND[typ]
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        left, right = "(" if meta["low_open"] else "[", ")" if meta["high_open"] else "]"
        text += f" in {left}{low}, {high}{right}"
    elif low is not None:
        text += f" {'>' if meta['low_open'] else '>='} {low}"
    elif high is not None:
        text += f" {'<' if meta['high_open'] else '<='} {high}"
    return text


def _scalar_error(value, typ, meta) -> str | None:
    """Why `value` is not an allowed `typ` (None when it is)."""
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif typ is str:  # a directory may well be named 2024: numbers are fine where text is wanted
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, typ)
    if not ok:
        if typ is int and isinstance(value, float):
            return f"is not an integer (a fraction cannot be used); allowed: {_allowed(typ, meta)}"
        return f"is not {KIND[typ]}; allowed: {_allowed(typ, meta)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"is not allowed; allowed: {_allowed(typ, meta)}"
    if typ in (int, float):
        low, high = meta.get("low"), meta.get("high")
        too_low = low is not None and (value <= low if meta["low_open"] else value < low)
        too_high = high is not None and (value >= high if meta["high_open"] else value > high)
        if too_low or too_high:
            return f"is out of range; allowed: {_allowed(typ, meta)}"
    return None


def _check(key: str, value, annotation, meta) -> None:
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional, annotation = True, args[0]
    if value is None:
        if optional:
            return
        raise ConfigError(f"{key}=null is not allowed; allowed: {_describe(annotation, meta)}")
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        length = meta.get("length")
        if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
            raise ConfigError(f"{key}={_show(value)} is not allowed; allowed: {_describe(annotation, meta)}")
        for number, element in enumerate(value):
            why = _scalar_error(element, item, meta)
            if why:
                raise ConfigError(f"{key}={_show(value)}: item {number} ({_show(element)}) {why}")
        return
    why = _scalar_error(value, annotation, meta)
    if why:
        raise ConfigError(f"{key}={_show(value)} {why}")


def _describe(annotation, meta) -> str:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        count = f"{meta['length']} " if meta.get("length") else ""
        each = _allowed(item, meta).split(" ", 1)[-1]  # "number in [0, 1)"
        return f"a list of {count}{KIND[item].split(' ', 1)[-1]}s, each {each}"
    return _allowed(annotation, meta)


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def validate_group(group: str, values: dict) -> None:
    """Check the keys of one settings group (`data`, `model`, ...) that its schema lists."""
    hints = typing.get_type_hints(SCHEMAS[group])
    for spec in fields(SCHEMAS[group]):
        if spec.name in values:
            _check(f"{group}.{spec.name}", values[spec.name], hints[spec.name], spec.metadata)


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
            _check(key, cfg[key], int, rule(low=low).metadata)
    every = cfg.get("checkpoint")
    if every is not None and "every_n_epochs" in every:
        _check("checkpoint.every_n_epochs", every.every_n_epochs, int, rule(low=1).metadata)
