"""The pixel convention: clips are uint8 until the training device, where they are normalised with
the ImageNet mean and std, as the original code and every released checkpoint expect.

Plain torch only and no imports from the package, so data, models, training and tools can all
share it without depending on each other.
"""

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _channel_view(
    values: tuple[float, ...], like: torch.Tensor, channel_dim: int, dtype: torch.dtype | None = None
) -> torch.Tensor:
    shape = [1] * like.dim()
    shape[channel_dim] = len(values)
    return torch.tensor(values, device=like.device, dtype=dtype).view(shape)


def normalize_uint8(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, T, H, W) -> float normalized with the ImageNet mean and std, on its device."""
    mean = _channel_view(IMAGENET_MEAN, video, 1)
    std = _channel_view(IMAGENET_STD, video, 1)
    return (video.float() / 255.0 - mean) / std


def to_pixels(videos: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
    """ImageNet-normalized values -> [0, 1] pixels, fp32; channels on `channel_dim`
    (1 for (B, C, T, H, W) videos, -1 for `patchify`-ed ones)."""
    mean = _channel_view(IMAGENET_MEAN, videos, channel_dim, torch.float32)
    std = _channel_view(IMAGENET_STD, videos, channel_dim, torch.float32)
    return videos.float() * std + mean
