"""The pixel convention of every model input: uint8 clips normalised with the ImageNet mean and std,
as the original code and every released checkpoint expect; clips stay uint8 until the training
device.

Plain torch only and no imports from the package, so data, models, training and tools can all
share it without depending on each other.
"""

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _per_channel(
    values: tuple[float, ...], like: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    # (1, C, 1, 1, 1) broadcasts over (..., C, T, H, W): batches of clips and of multi-view clips.
    return torch.tensor(values, device=like.device, dtype=dtype).view(1, 3, 1, 1, 1)


def normalize_uint8(video: torch.Tensor) -> torch.Tensor:
    """uint8 (..., C, T, H, W) -> float normalized with the ImageNet mean and std, on its device."""
    mean = _per_channel(IMAGENET_MEAN, video)
    std = _per_channel(IMAGENET_STD, video)
    return (video.float() / 255.0 - mean) / std


def to_pixels(videos: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """ImageNet-normalized values -> [0, 1] pixels, fp32: videos (..., C, T, H, W), or with
    `channels_last` anything with channels on the last axis (`patchify`-ed videos)."""
    if channels_last:
        mean = torch.tensor(IMAGENET_MEAN, device=videos.device, dtype=torch.float32)
        std = torch.tensor(IMAGENET_STD, device=videos.device, dtype=torch.float32)
    else:
        mean = _per_channel(IMAGENET_MEAN, videos, torch.float32)
        std = _per_channel(IMAGENET_STD, videos, torch.float32)
    return videos.float() * std + mean
