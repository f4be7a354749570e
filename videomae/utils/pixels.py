"""The pixel convention of every model input: uint8 clips normalised with the ImageNet mean and std,
as the original code and every released checkpoint expect; clips stay uint8 until the training
device.

Plain torch only and no imports from the package, so data, models, training and tools can all
share it without depending on each other.
"""

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ITU-R BT.601 luma weights: what a gray frame of an RGB video is (data.channels=gray), and the
# weights that give a one-channel model the luma of ImageNet's mean and std as its defaults.
LUMA_BT601 = (0.299, 0.587, 0.114)
GRAY_MEAN = (sum(w * m for w, m in zip(LUMA_BT601, IMAGENET_MEAN, strict=True)),)
GRAY_STD = (sum(w * s for w, s in zip(LUMA_BT601, IMAGENET_STD, strict=True)),)


def default_stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) when none is given: ImageNet's for 3 channels, its BT.601 luma for 1; other
    counts have no default (None)."""
    return {3: (IMAGENET_MEAN, IMAGENET_STD), 1: (GRAY_MEAN, GRAY_STD)}.get(channels)


def _per_channel(
    values: tuple[float, ...], like: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    # (1, C, 1, 1, 1) broadcasts over (..., C, T, H, W): batches of clips and of multi-view clips.
    return torch.tensor(values, device=like.device, dtype=dtype).view(1, len(values), 1, 1, 1)


def normalize_uint8(
    video: torch.Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> torch.Tensor:
    """uint8 (..., C, T, H, W) -> float normalized with `mean` and `std` (per channel, ImageNet's
    by default), on its device."""
    return (video.float() / 255.0 - _per_channel(tuple(mean), video)) / _per_channel(tuple(std), video)


def to_pixels(
    videos: torch.Tensor,
    channels_last: bool = False,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> torch.Tensor:
    """Normalized values -> [0, 1] pixels, fp32: videos (..., C, T, H, W), or with
    `channels_last` anything with channels on the last axis (`patchify`-ed videos)."""
    if channels_last:
        mean_t = torch.tensor(tuple(mean), device=videos.device, dtype=torch.float32)
        std_t = torch.tensor(tuple(std), device=videos.device, dtype=torch.float32)
    else:
        mean_t = _per_channel(tuple(mean), videos, torch.float32)
        std_t = _per_channel(tuple(std), videos, torch.float32)
    return videos.float() * std_t + mean_t


def resolve_stats(channels: int, mean=None, std=None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel (mean, std) of a `channels`-channel input: as given, else the default;
    a ValueError names what is wrong (a count without a default, a length, a std that is not > 0)."""
    if (mean is None) != (std is None):
        raise ValueError("give both the pixel mean and std, or neither")
    if mean is None:
        stats = default_stats(channels)
        if stats is None:
            raise ValueError(
                f"{channels} channels have no default pixel mean/std (3: ImageNet, 1: its BT.601 luma): "
                "give one value per channel"
            )
        return stats
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"pixel mean {list(mean)} and std {list(std)} need {channels} values each")
    if min(std) <= 0:
        raise ValueError(f"pixel std {list(std)} must be > 0")
    return mean, std
