"""The pixel convention of every model input: uint8 clips normalised with the ImageNet mean and std."""

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_uint8(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, T, H, W) -> float normalized with the ImageNet mean and std, on its device."""
    mean = torch.tensor(IMAGENET_MEAN, device=video.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=video.device).view(1, 3, 1, 1, 1)
    return (video.float() / 255.0 - mean) / std
