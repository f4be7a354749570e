"""The `data.*` settings the datamodule checks when it is built, so that a bad value fails at
start-up, naming its key, rather than deep inside a loader worker; and the few-shot subset that
`data.train_per_class` selects."""

from videomae.data import decoders
from videomae.data.sampling import SAMPLING, SAMPLING_MODES
from videomae.errors import ConfigError

MODES = ("pretrain", "finetune")
AUGMENT_DEFAULTS = {
    "rand_augment": "rand-m7-n4-mstd0.5-inc1",
    "crop_scale": (0.08, 1.0),
    "crop_ratio": (0.75, 1.3333),
    "erase_prob": 0.25,
}


def check_choices(mode: str, sampling: str, pretrain_sampling: str | None, sampling_mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"data mode {mode!r} is not one of {', '.join(MODES)}")
    for key, value in (("sampling", sampling), ("pretrain_sampling", pretrain_sampling or sampling)):
        if value not in SAMPLING:
            raise ConfigError(f"data.{key}={value!r} is not one of {', '.join(SAMPLING)}")
    if sampling_mode not in SAMPLING_MODES:
        raise ConfigError(f"data.sampling_mode={sampling_mode!r} is not one of {', '.join(SAMPLING_MODES)}")


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


def check_counts(**counts: int) -> None:
    """Each of `counts` (data key -> value) is at least 1."""
    for key, value in counts.items():
        if int(value) < 1:
            raise ConfigError(f"data.{key}={value} must be at least 1")


def check_limits(max_skip_fraction: float, augment: dict | None) -> None:
    if not 0 < float(max_skip_fraction) <= 1:
        raise ConfigError(f"data.max_skip_fraction={max_skip_fraction} must be in (0, 1]")
    unknown = set(augment or {}) - set(AUGMENT_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"data.augment has unknown keys {sorted(unknown)}; known: {sorted(AUGMENT_DEFAULTS)}"
        )


def check_root(name: str, root: str | None, train_list: str) -> None:
    """`root` is set; whether it exists is checked once the synthetic data, if any, is known."""
    if root is None or not str(root).strip():
        raise ConfigError(
            f"data.root is not set: dataset={name} needs data.root=DIR, the directory that holds "
            f"the videos and either {train_list} (one 'path label' line per video) or the "
            "dataset's official annotation files"
        )


def check_train_per_class(train_per_class: int | None) -> None:
    if train_per_class is not None and int(train_per_class) < 1:
        raise ConfigError(f"data.train_per_class={train_per_class} must be at least 1 (or null: all)")


def first_per_class(samples: list[tuple[str, int]], count: int) -> list[tuple[str, int]]:
    """The first `count` videos of each label, in list order: a fixed labeled subset (few-shot runs)."""
    seen: dict[int, int] = {}
    subset = []
    for path, label in samples:
        if seen.get(label, 0) < count:
            seen[label] = seen.get(label, 0) + 1
            subset.append((path, label))
    return subset


def check_decoding(backend: str, device_transforms: bool, mode: str) -> tuple[str, bool]:
    """(the backend data.backend stands for here, checked to work now, so that a missing decoder
    fails at start-up naming the fix, not in a worker; data.device_transforms)."""
    if device_transforms and mode != "pretrain":
        raise ConfigError("data.device_transforms=true is for pre-training only (its crop and flip)")
    return decoders.resolve(decoders.check_name(str(backend))), bool(device_transforms)
