"""The typed schema of the `data` settings, checked once at start-up (through
videomae.training.configs.build_configs, which builds the other groups' settings, typed next to
their components): a wrong type or range fails with one line naming the key, the value and what
is allowed (videomae.config_fields).

Only keys listed here are checked; a key it does not list is left to the datamodule, whose
signature is checked.
"""

import typing
from dataclasses import dataclass, fields

from omegaconf import DictConfig, OmegaConf

from videomae.config_fields import check_value, rule


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


SCHEMAS = {"data": DataSchema}


def validate_group(group: str, values: dict) -> None:
    """Check the keys of one settings group (`data`, `model`, ...) that its schema lists."""
    hints = typing.get_type_hints(SCHEMAS[group])
    for spec in fields(SCHEMAS[group]):
        if spec.name in values:
            check_value(f"{group}.{spec.name}", values[spec.name], hints[spec.name], spec.metadata)


def validate_data(cfg: DictConfig) -> None:
    """Check the `data` group of a run's configuration (the other groups: training.configs)."""
    section = cfg.get("data")
    if section is None:
        return
    values = OmegaConf.to_container(section, resolve=True)
    if isinstance(values, dict):
        validate_group("data", values)
