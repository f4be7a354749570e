"""Pre-training's per-pixel work on the training device: `data.device_transforms=true`.

Once decoding is cheap (the re-encoded copy), the multi-scale crop's resize and the flip cost a
loader worker more than the decode at num_sample 4 (docs/benchmarks.md). With this switch the
worker still draws every augmentation (same generators, same order, so the same draws and exact
resume), but ships the decoded window once, with each clip's crop box and flip, and the device
resizes and flips all clips of a step in one batched resize per distinct crop size (a handful).

The result equals the CPU path but for rounding: both resize with bilinear antialiasing, width
then height, rounding to integers after each pass; the CPU path in uint8 fixed point, this one in
float32, so a few percent of values differ by one level (of 255), one in 10^5 by two.
"""

import random

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from videomae.data.transforms import PretrainTransform

# One row per clip: top, left, height, width of the crop, flip (0/1), output size.
CROP_FIELDS = 6


def draw_crop(transform: PretrainTransform, height: int, width: int) -> list[int]:
    """One clip's augmentation, drawn exactly as PretrainTransform.__call__ draws it."""
    top, left, h, w = transform.crop.params(height, width)
    flip = bool(transform.flip and random.random() < 0.5)
    return [top, left, h, w, int(flip), transform.crop.size]


def collate_windows(items: list[dict]) -> dict:
    """The default collate, but decoded windows of different sizes are padded to the largest
    (bottom and right; the crop boxes stay inside each window's own frames)."""
    frames = [item.pop("frames") for item in items]
    batch = default_collate(items)
    length = frames[0].shape[0]
    height, width = max(f.shape[1] for f in frames), max(f.shape[2] for f in frames)
    out = torch.zeros(len(frames), length, height, width, frames[0].shape[-1], dtype=torch.uint8)
    for row, f in zip(out, frames, strict=True):
        row[:, : f.shape[1], : f.shape[2]] = f
    batch["frames"] = out
    return batch


def _resize_like_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear antialiased resize as torch's uint8 kernel does it on the CPU: the width pass,
    rounded to integers, then the height pass (one pass alone rounds differently in 10% of pixels)."""
    resize = lambda x, hw: F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False)  # noqa: E731
    wide = resize(images, (images.shape[-2], size)).round_().clamp_(0, 255)
    return resize(wide, (size, size))


def crop_resize_flip(frames: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 windows and (B, num_sample, 6) crops -> (B x num_sample, 3, T, S, S)
    uint8 clips, as the CPU path gives them, on frames' device."""
    batch, clips = crops.shape[:2]
    rows = crops.reshape(-1, CROP_FIELDS).tolist()
    size = rows[0][5]
    source = frames.permute(0, 1, 4, 2, 3)  # (B, T, C, H, W), a view
    length, channels = source.shape[1:3]
    out = torch.empty(batch * clips, length, channels, size, size, device=frames.device)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, h, w, _, _) in enumerate(rows):
        groups.setdefault((h, w), []).append(i)
    for (h, w), members in groups.items():
        stack = torch.stack(
            [
                source[i // clips, :, :, rows[i][0] : rows[i][0] + h, rows[i][1] : rows[i][1] + w]
                for i in members
            ]
        )
        resized = _resize_like_uint8(stack.flatten(0, 1).float(), size)
        out[members] = resized.unflatten(0, (len(members), length))
    flips = torch.tensor([r[4] for r in rows], dtype=torch.bool, device=frames.device)
    out = torch.where(flips.view(-1, 1, 1, 1, 1), out.flip(-1), out)
    return out.round_().clamp_(0, 255).to(torch.uint8).transpose(1, 2)
