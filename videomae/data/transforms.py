"""Clip transforms on uint8 (T, C, H, W) tensors; one random draw per clip, applied to every frame.

Outputs stay uint8: normalisation happens on the training device. Randomness comes from Python's
`random`, NumPy's global generator (timm's RandAugment) and torch's (torchvision's parameter
draws), all seeded per worker and per rank by Lightning.
"""

import random

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        crop_h, crop_w = min(crop_h, height), min(crop_w, width)
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


class ClipRandAugment:
    """timm's RandAugment with one draw of ops and magnitudes for every frame of a clip.

    timm draws from Python's `random` and NumPy's global generator; both are put back to the same
    state before each frame, so each frame gets the same ops with the same parameters (and the
    generators end where one image's augmentation would leave them).
    """

    def __init__(self, config: str, size: int):
        from timm.data.auto_augment import rand_augment_transform

        self.config = config
        hparams = {"translate_const": int(size * 0.45), "interpolation": Image.Resampling.BICUBIC}
        self.augment = rand_augment_transform(config, hparams)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        py_state, np_state = random.getstate(), np.random.get_state()
        frames = clip.permute(0, 2, 3, 1).numpy()  # (T, H, W, C)
        out = []
        for frame in frames:
            random.setstate(py_state)
            np.random.set_state(np_state)
            out.append(np.asarray(self.augment(Image.fromarray(frame))))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


class ClipRandomErasing:
    """Random erasing (timm's `pixel` mode, one region) with the same region in every frame.

    The region comes from torchvision's RandomErasing parameters; it is filled with per-pixel
    noise that is N(0, 1) after ImageNet normalisation, written back as uint8.
    """

    def __init__(self, prob: float = 0.25, scale=(0.02, 1 / 3), ratio=(0.3, 1 / 0.3)):
        self.prob = prob
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        if self.prob <= 0 or random.random() >= self.prob:
            return clip
        height, width = clip.shape[-2:]
        top, left, h, w, _ = T.RandomErasing.get_params(clip, self.scale, self.ratio, value=[0])
        if (h, w) == (height, width):  # torchvision found no region that fits: leave the clip
            return clip
        noise = torch.randn(clip.shape[0], clip.shape[1], h, w) * self._std + self._mean
        clip = clip.clone()
        clip[..., top : top + h, left : left + w] = noise.round_().clamp_(0, 255).to(torch.uint8)
        return clip


class FinetuneTransform:
    """Fine-tuning augmentation: random resized crop to `size` (one box for the clip), optional
    horizontal flip, RandAugment (one draw for the clip), random erasing (one region).

    The original applies RandAugment to full frames before the crop; here it runs on the crop,
    which draws the same distribution of ops at a fraction of the cost.
    """

    def __init__(
        self,
        size: int,
        crop_scale=(0.08, 1.0),
        crop_ratio=(3 / 4, 4 / 3),
        flip: bool = True,
        rand_augment: str | None = "rand-m7-n4-mstd0.5-inc1",
        erase_prob: float = 0.25,
    ):
        self.size = size
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.flip = flip
        self.rand_augment = ClipRandAugment(rand_augment, size) if rand_augment else None
        self.erase = ClipRandomErasing(erase_prob) if erase_prob > 0 else None

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        top, left, h, w = T.RandomResizedCrop.get_params(clip, list(self.crop_scale), list(self.crop_ratio))
        clip = TF.resized_crop(clip, top, left, h, w, [self.size, self.size], antialias=True)
        if self.flip and random.random() < 0.5:
            clip = TF.horizontal_flip(clip)
        if self.rand_augment is not None:
            clip = self.rand_augment(clip)
        if self.erase is not None:
            clip = self.erase(clip)
        return clip


def resize_short_side(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (..., H, W) so that the short side is `size`, keeping the aspect ratio.

    The long side is truncated, as in the original code (`get_resize_sizes`) and transformers'
    VideoMAE processors, so an export's preprocessor_config.json reproduces this view exactly.
    """
    height, width = clip.shape[-2:]
    if min(height, width) == size:
        return clip
    if height <= width:
        new = [size, max(size, int(width * size / height))]
    else:
        new = [max(size, int(height * size / width)), size]
    return TF.resize(clip, new, antialias=True)


def spatial_crops(clip: torch.Tensor, size: int, num_crops: int) -> list[torch.Tensor]:
    """`num_crops` size x size crops evenly spaced along the long side (the original's 3-crop
    test: left/centre/right or top/centre/bottom); one crop is the centre crop. Expects the short
    side to be `size` already."""
    height, width = clip.shape[-2:]
    if num_crops == 1:
        return [TF.center_crop(clip, [size, size])]
    crops = []
    for k in range(num_crops):
        if height >= width:
            top, left = int(k * (height - size) / (num_crops - 1)), (width - size) // 2
        else:
            top, left = (height - size) // 2, int(k * (width - size) / (num_crops - 1))
        crops.append(clip[..., top : top + size, left : left + size])
    return crops


class EvalTransform:
    """Validation view: short side to `size`, centre crop."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return spatial_crops(resize_short_side(clip, self.size), self.size, 1)[0]
