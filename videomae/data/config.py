"""`DataConfig`: the `data.*` settings (configs/data/default.yaml), one field per key with its type,
default, allowed values and meaning, checked when the config is made: a bad value fails with one
line naming its key, at start-up rather than deep inside a loader worker.

The field rules (type, range, choices) give the schema's messages (videomae.utils.config_fields); the
checks between fields (fps sampling needs one of target_fps and clip_seconds, ...) are in
`__post_init__`. The checks that depend on the run (its mode) or on this machine (a decoder that
works here) are the datamodule's and the dataset factory's.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from videomae.data.sampling import SAMPLING, SAMPLING_MODES
from videomae.utils.config_fields import check_fields, rule
from videomae.utils.errors import ConfigError

AUGMENT_DEFAULTS = {
    "rand_augment": "rand-m7-n4-mstd0.5-inc1",
    "crop_scale": (0.08, 1.0),
    "crop_ratio": (0.75, 1.3333),
    "erase_prob": 0.25,
}


@dataclass(frozen=True)
class DataConfig:
    name: str = rule(help="the dataset: k400, ssv2, ucf101, hmdb51, folder, synthetic")
    root: str | None = rule(help="the dataset's directory (required, except for the demo)")
    layout: str = rule(
        choices=("auto", "list", "official", "folder"),
        default="auto",
        help="auto: our lists if train_list is there, else the official layout",
    )
    split: int = rule(low=1, default=1, help="official split of ucf101 / hmdb51 (1, 2, 3)")
    train_list: str = rule(default="train.csv", help="'path label' lines, relative to root")
    val_list: str | None = rule(default="val.csv")
    test_list: str | None = rule(help="null: the validation list")
    num_classes: int | None = rule(low=1, help="null: what the dataset defines")
    train_per_class: int | None = rule(low=1, help="fine-tuning: the first N labeled videos per class")
    num_frames: int = rule(low=1, default=16)
    sampling: str = rule(default="dense", help="one of SAMPLING: dense | segment | fps")
    pretrain_sampling: str | None = rule(help="null: as sampling")
    sampling_rate: int = rule(low=1, default=4, help="dense: frame stride of the window")
    target_fps: float | None = rule(low=0, low_open=True, help="fps: frames per second taken")
    clip_seconds: float | None = rule(low=0, low_open=True, help="fps: or the clip's duration")
    sampling_mode: str = rule(default="original", help="one of SAMPLING_MODES: original | uniform")
    input_size: int = rule(low=1, default=224)
    scales: tuple[float, ...] = rule(
        low=0, high=1, low_open=True, default=(1.0, 0.875, 0.75, 0.66), help="multi-scale crop"
    )
    flip: bool = rule(default=True)
    num_sample: int = rule(low=1, default=1, help="repeated sampling: clips per decoded video")
    decode_short_side: int | None = rule(low=1, help="null: input_size / min(scales)")
    test_clips: int = rule(low=1, default=5)
    test_crops: int = rule(low=1, default=3)
    augment: dict | None = rule(help="fine-tuning's augmentation over AUGMENT_DEFAULTS")
    batch_size: int = rule(low=1, default=32, help="per device")
    test_batch_size: int | None = rule(low=1, help="videos per test batch; null: batch_size / views")
    num_workers: int = rule(low=0, default=8)
    pin_memory: bool = rule(default=True)
    # Read by the skip accounting (videomae.training.callbacks.SkippedVideos), not by the loaders.
    max_skip_fraction: float = rule(low=0, high=1, low_open=True, default=0.5)
    skip_check_after: int = rule(low=0, default=100)
    decode_timeout: float | None = rule(low=0, low_open=True, default=60, help="seconds per video")
    backend: str = rule(choices=("auto", "decord", "pyav", "torchcodec"), default="auto")  # decoders.CHOICES
    channels: str = rule(choices=("rgb", "gray", "rgba"), default="rgb")  # videomae.data.video.CHANNELS
    mean: tuple[float, ...] | None = rule(help="per channel; checked with model.in_chans (training.run)")
    std: tuple[float, ...] | None = rule(low=0, low_open=True)
    device_transforms: bool = rule(default=False, help="pre-training: crop and flip on the device")
    synthetic: dict | None = rule(help="the generated demo videos (videomae.data.synthetic.SyntheticSpec)")

    def __post_init__(self) -> None:
        check_fields(DataConfig, "data", {f.name: getattr(self, f.name) for f in fields(self)})
        for key, value in (("sampling", self.sampling), ("pretrain_sampling", self.training_sampling)):
            if value not in SAMPLING:
                raise ConfigError(f"data.{key}={value!r} is not one of {', '.join(SAMPLING)}")
        if self.sampling_mode not in SAMPLING_MODES:
            raise ConfigError(
                f"data.sampling_mode={self.sampling_mode!r} is not one of {', '.join(SAMPLING_MODES)}"
            )
        if unknown := sorted(set(self.augment or {}) - set(AUGMENT_DEFAULTS)):
            raise ConfigError(
                f"data.augment.{unknown[0]} is not a data.augment setting; "
                f"known: {', '.join(AUGMENT_DEFAULTS)}"
            )
        if self.root is None or not str(self.root).strip():
            raise ConfigError(
                f"data.root is not set: dataset={self.name} needs data.root=DIR, the directory that holds "
                f"the videos and either {self.train_list} (one 'path label' line per video) or the "
                "dataset's official annotation files"
            )
        self.fps  # noqa: B018  # checks target_fps / clip_seconds against the samplings

    @classmethod
    def from_mapping(cls, values: Mapping) -> "DataConfig":
        """The config of the `data` group's values; a key it does not have fails in one line."""
        known = [f.name for f in fields(cls)]
        if unknown := sorted(set(values) - set(known)):
            raise ConfigError(f"data.{unknown[0]} is not a data setting; known: {', '.join(sorted(known))}")
        sequences = ("scales", "mean", "std")
        kwargs: dict[str, Any] = {
            k: tuple(v) if k in sequences and v is not None else v for k, v in values.items()
        }
        return cls(**kwargs)

    # --- what the fields imply ----------------------------------------------------------------

    @property
    def root_dir(self) -> str:
        return os.path.expanduser(str(self.root))

    @property
    def training_sampling(self) -> str:
        """Pre-training's frame choice: `pretrain_sampling`, else `sampling`."""
        return self.pretrain_sampling or self.sampling

    @property
    def fps(self) -> float | None:
        """The frame rate of `fps` sampling (None when no sampling is by time)."""
        samplings = (self.sampling, self.training_sampling)
        return clip_rate(self.num_frames, samplings, self.target_fps, self.clip_seconds)

    @property
    def augmentation(self) -> dict:
        """Fine-tuning's augmentation: `augment` over AUGMENT_DEFAULTS."""
        return {**AUGMENT_DEFAULTS, **(self.augment or {})}

    @property
    def videos_per_test_batch(self) -> int:
        """`test_batch_size`, else as many videos as `batch_size` clips make in test views."""
        return int(self.test_batch_size or max(1, self.batch_size // (self.test_clips * self.test_crops)))


def clip_rate(
    num_frames: int, samplings: tuple[str, ...], target_fps: float | None, clip_seconds: float | None
) -> float | None:
    """The frame rate of `fps` sampling: `data.target_fps`, or `data.num_frames` over
    `data.clip_seconds` (exactly one of them); None when no sampling is by time."""
    if "fps" not in samplings:
        for key, value in (("target_fps", target_fps), ("clip_seconds", clip_seconds)):
            if value is not None:
                raise ConfigError(f"data.{key}={value} is used only with data.sampling=fps")
        return None
    if (target_fps is None) == (clip_seconds is None):
        raise ConfigError(
            "data.sampling=fps needs exactly one of data.target_fps (frames per second) and "
            f"data.clip_seconds (the clip's duration); got target_fps={target_fps}, "
            f"clip_seconds={clip_seconds}"
        )
    for key, value in (("target_fps", target_fps), ("clip_seconds", clip_seconds)):
        if value is not None and not float(value) > 0:
            raise ConfigError(f"data.{key}={value} must be > 0")
    if target_fps is not None:
        return float(target_fps)
    assert clip_seconds is not None  # exactly one is set
    return num_frames / float(clip_seconds)
