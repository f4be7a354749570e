"""The data benchmark's baseline: a loader that loads like the original VideoMAE code (decord)."""

import random

import numpy as np
import torch
from torch.utils.data import Dataset

from videomae.data.decoders import decord as decord_backend
from videomae.utils.pixels import IMAGENET_MEAN as MEAN
from videomae.utils.pixels import IMAGENET_STD as STD


def decord_missing() -> str | None:
    return decord_backend.missing()


class OriginalStyleDataset(Dataset):
    """The original pre-training path, re-implemented here: per clip a new decord VideoReader,
    TSN-style offsets (one segment, `num_frames` frames `sampling_rate` apart), one get_batch,
    then per frame: PIL image, multi-scale crop and bilinear resize; stack, float / 255,
    per-channel normalise, (C, T, H, W) float32, plus a numpy tube mask."""

    def __init__(self, paths, num_frames=16, sampling_rate=4, input_size=224, mask_ratio=0.9):
        self.paths = paths
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.scales = (1, 0.875, 0.75, 0.66)
        tokens = (input_size // 16) ** 2
        self.mask_tokens = (tokens, int(mask_ratio * tokens), num_frames // 2)

    def __len__(self):
        return len(self.paths)

    def _indices(self, length):
        skip = self.num_frames * self.sampling_rate
        if length - skip + 1 > 0:
            offset = random.randint(0, length - skip)
        else:
            offset = 0
        ids = []
        for i in range(self.num_frames):
            frame = offset + i * self.sampling_rate
            ids.append(frame if frame < length else length - 1)
        return ids

    def _crop_params(self, width, height):
        base = min(width, height)
        sizes = [int(base * s) for s in self.scales]
        sizes = [self.input_size if abs(s - self.input_size) < 3 else s for s in sizes]
        pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= 1]
        crop_w, crop_h = random.choice(pairs)
        sw, sh = (width - crop_w) // 4, (height - crop_h) // 4
        grid = [
            (0, 0),
            (4, 0),
            (0, 4),
            (4, 4),
            (2, 2),
            (0, 2),
            (4, 2),
            (2, 4),
            (2, 0),
            (1, 1),
            (3, 1),
            (1, 3),
            (3, 3),
        ]
        gx, gy = random.choice(grid)
        return crop_w, crop_h, gx * sw, gy * sh

    def __getitem__(self, index):
        import decord
        from PIL import Image

        reader = decord.VideoReader(self.paths[index], num_threads=1, ctx=decord.cpu(0))
        frames = reader.get_batch(self._indices(len(reader))).asnumpy()
        images = [Image.fromarray(frames[i]).convert("RGB") for i in range(frames.shape[0])]
        crop_w, crop_h, left, top = self._crop_params(*images[0].size)
        size = (self.input_size, self.input_size)
        images = [
            im.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.BILINEAR)
            for im in images
        ]
        stacked = np.concatenate([np.asarray(im) for im in images], axis=2)
        clip = torch.from_numpy(stacked).permute(2, 0, 1).contiguous().float().div(255.0)
        for channel, mean, std in zip(clip, MEAN * self.num_frames, STD * self.num_frames, strict=True):
            channel.sub_(mean).div_(std)
        clip = clip.view(self.num_frames, 3, *size).transpose(0, 1)
        tokens, masked, slots = self.mask_tokens
        mask = np.hstack([np.zeros(tokens - masked), np.ones(masked)])
        np.random.shuffle(mask)
        return clip, np.tile(mask, (slots, 1)).flatten()
