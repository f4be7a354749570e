"""Training clips for the frozen probes: `num_segments` clips per video, one random clip from each
of as many equal parts of the video, from one decode, each augmented on its own (V-JEPA's
`num_segments`: the probe sees the tokens of all of them, concatenated)."""

import random

import numpy as np
import torch

from videomae.data.batches import ClipItem, WindowItem
from videomae.data.dataset import VideoClipDataset
from videomae.data.resume import seed_everything_from


class SegmentClipDataset(VideoClipDataset):
    """Item: `video` uint8 (num_segments, C, T, H, W) (one segment: (C, T, H, W), as
    VideoClipDataset), `label`, `index`, `skipped`, `failed`."""

    def __init__(self, *args, num_segments: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_segments = int(num_segments)

    def choose(self, num_video_frames: int, rng: np.random.Generator) -> np.ndarray:
        """(num_segments, T): the sampler's random clip within each part of the video (a part too
        short for a clip gets the sampler's short-video handling: repeated frames)."""
        if self.num_segments == 1:
            return super().choose(num_video_frames, rng)
        bounds = np.linspace(0, num_video_frames, self.num_segments + 1).astype(int)
        clips = []
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            clips.append(np.asarray(self.sampler(max(int(end - start), 1), rng)) + start)
        return np.clip(np.stack(clips), 0, num_video_frames - 1)

    def __getitem__(self, index: int) -> ClipItem | WindowItem:
        if self.num_segments == 1:
            return super().__getitem__(index)
        if self.epoch_seed is not None:  # as the parent: draws from (epoch seed, index)
            seed_everything_from(self.epoch_seed, index)
        rng = np.random.default_rng(random.getrandbits(63))
        index, label, frames, _, failures = self._load(index, lambda n: self.choose(n, rng))
        videos = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)  # (K, T, C, H, W)
        clips = torch.stack([self.transform(video).transpose(0, 1) for video in videos])
        return ClipItem(
            video=clips, label=label, index=index, skipped=len(failures), failed="\n".join(failures)
        )
