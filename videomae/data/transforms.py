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

from videomae.data.video import short_side_size
from videomae.utils.pixels import IMAGENET_MEAN, IMAGENET_STD, default_stats


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
        # Lazy: importing timm loads its whole model registry, which only fine-tuning runs need.
        from timm.data.auto_augment import rand_augment_transform

        self.config = config
        hparams = {"translate_const": int(size * 0.45), "interpolation": Image.Resampling.BICUBIC}
        self.augment = rand_augment_transform(config, hparams)
        # The same ops for one-channel images: their fill (of translations, rotations) is one value.
        self.augment_plane = rand_augment_transform(config, {**hparams, "img_mean": 128})

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        py_state, np_state = random.getstate(), np.random.get_state()
        frames = clip.permute(0, 2, 3, 1).numpy()  # (T, H, W, C)
        out = []
        for frame in frames:
            if frame.shape[-1] == 3:
                random.setstate(py_state)
                np.random.set_state(np_state)
                out.append(np.asarray(self.augment(Image.fromarray(frame))))
                continue
            # Other channel counts (gray, RGBA, depth planes): each channel as a gray image (PIL's
            # L mode, which every op handles) with the same draw, so geometry stays aligned.
            planes = []
            for c in range(frame.shape[-1]):
                random.setstate(py_state)
                np.random.set_state(np_state)
                plane = Image.fromarray(np.ascontiguousarray(frame[..., c]))
                planes.append(np.asarray(self.augment_plane(plane)))
            out.append(np.stack(planes, axis=-1))
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
        gray_mean, gray_std = default_stats(1) or ((0.5,), (0.25,))
        self._gray = (
            torch.tensor(gray_mean).view(1, 1, 1, 1) * 255,
            torch.tensor(gray_std).view(1, 1, 1, 1) * 255,
        )

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        if self.prob <= 0 or random.random() >= self.prob:
            return clip
        height, width = clip.shape[-2:]
        top, left, h, w, _ = T.RandomErasing.get_params(clip, self.scale, self.ratio, value=[0])
        if (h, w) == (height, width):  # torchvision found no region that fits: leave the clip
            return clip
        mean, std = (self._mean, self._std) if clip.shape[1] == 3 else self._gray  # gray: its luma stats
        noise = torch.randn(clip.shape[0], clip.shape[1], h, w) * std + mean
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


def resize_short_side(clip: torch.Tensor, size: int, mode: str = "original") -> torch.Tensor:
    """Resize (..., H, W) so that the short side is `size`, keeping the aspect ratio (the long
    side rounds as `mode` says: videomae.data.video.short_side_size)."""
    height, width = clip.shape[-2:]
    new = short_side_size(height, width, size, mode)
    if new == (height, width):
        return clip
    return TF.resize(clip, list(new), antialias=True)


def crop_boxes(height: int, width: int, size: int, num_crops: int) -> list[tuple[int, int]]:
    """(top, left) of `num_crops` size x size test crops of a frame whose short side is `size`:
    the original's, evenly spaced along the long side, int(k x (long - size) / (num_crops - 1)),
    centred across (a square frame is cropped along its height). One crop (the original has no
    such test) is the centre crop."""
    if num_crops == 1:
        return [center_box(height, width, size)]
    boxes = []
    for k in range(num_crops):
        if height >= width:
            boxes.append((int(k * (height - size) / (num_crops - 1)), (width - size) // 2))
        else:
            boxes.append(((height - size) // 2, int(k * (width - size) / (num_crops - 1))))
    return boxes


def center_box(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the centre size x size crop: round((side - size) / 2), Python's rounding
    (half to even), as the original's CenterCrop and torchvision's center_crop do."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def spatial_crops(clip: torch.Tensor, size: int, num_crops: int) -> list[torch.Tensor]:
    """The `crop_boxes` of (..., H, W), whose short side is `size` already (the original's 3-crop
    test: left/centre/right or top/centre/bottom)."""
    height, width = clip.shape[-2:]
    return [
        clip[..., top : top + size, left : left + size]
        for top, left in crop_boxes(height, width, size, num_crops)
    ]


class EvalTransform:
    """Validation view: short side to `size` (rounded as `mode` says), centre crop."""

    def __init__(self, size: int, mode: str = "original"):
        self.size = size
        self.mode = mode

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return spatial_crops(resize_short_side(clip, self.size, self.mode), self.size, 1)[0]
