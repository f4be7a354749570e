"""Clip transforms on uint8 (T, C, H, W) tensors; one random draw per clip, applied to every frame."""

import random

import torch
from torchvision.transforms.v2 import functional as TF


class MultiScaleCrop:
    """The original's GroupMultiScaleCrop: a crop of (scale x short side) on a fixed grid of
    positions, width and height scales at most `max_distort` apart, resized to `size`."""

    def __init__(self, size: int, scales=(1, 0.875, 0.75, 0.66), max_distort: int = 1):
        self.size = size
        self.scales = tuple(scales)
        self.max_distort = max_distort

    def params(self, height: int, width: int) -> tuple[int, int, int, int]:
        base = min(height, width)
        sizes = [int(base * s) for s in self.scales]
        sizes = [self.size if abs(s - self.size) < 3 else s for s in sizes]
        pairs = [
            (h, w) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= self.max_distort
        ]
        crop_h, crop_w = random.choice(pairs)
        step_h, step_w = (height - crop_h) // 4, (width - crop_w) // 4
        offsets = [
            (0, 0), (0, 4), (4, 0), (4, 4), (2, 2),  # corners and centre
            (2, 0), (2, 4), (0, 2), (4, 2),  # edge middles
            (1, 1), (1, 3), (3, 1), (3, 3),  # quarter points
        ]  # fmt: skip
        oy, ox = random.choice(offsets)
        return oy * step_h, ox * step_w, crop_h, crop_w

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        top, left, h, w = self.params(*clip.shape[-2:])
        clip = TF.crop(clip, top, left, h, w)
        return TF.resize(clip, [self.size, self.size], antialias=True)


class PretrainTransform:
    """Multi-scale crop to the model's size, then an optional horizontal flip."""

    def __init__(self, size: int, scales=(1, 0.875, 0.75, 0.66), flip: bool = True):
        self.crop = MultiScaleCrop(size, scales)
        self.flip = flip

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        clip = self.crop(clip)
        if self.flip and random.random() < 0.5:
            clip = TF.horizontal_flip(clip)
        return clip
