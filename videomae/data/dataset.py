"""A clip dataset over decoded video files, tolerant of broken ones."""

import logging
import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from videomae.data.video import VideoReadError, read_frames

log = logging.getLogger(__name__)


class VideoClipDataset(Dataset):
    """Clips from a list of (path, label); a broken or missing video is replaced by another.

    Each item is a dict: `video` uint8 (C, T, H, W), or (num_sample, C, T, H, W) when one decode
    serves `num_sample` augmented clips; `label`; `skipped`, the unreadable videos met on the way,
    so the training loop can count them across workers.
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        choose_indices: Callable[[int, np.random.Generator], np.ndarray],
        transform: Callable[[torch.Tensor], torch.Tensor],
        num_sample: int = 1,
        max_consecutive_failures: int = 20,
    ):
        if not samples:
            raise ValueError("the dataset has no videos")
        self.samples = samples
        self.choose_indices = choose_indices
        self.transform = transform
        self.num_sample = num_sample
        self.max_consecutive_failures = max_consecutive_failures

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng(random.getrandbits(63))
        errors = []
        while len(errors) < self.max_consecutive_failures:
            path, label = self.samples[index]
            try:
                frames = read_frames(path, lambda n: self.choose_indices(n, rng))
                break
            except VideoReadError as err:
                log.warning("skipping unreadable video: %s", err)
                errors.append(str(err))
                index = random.randrange(len(self.samples))
        else:
            raise RuntimeError(
                f"{len(errors)} videos in a row could not be read; is the data root right? "
                f"First errors: {errors[:3]}"
            )
        video = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W) for the transforms
        clips = [self.transform(video).transpose(0, 1) for _ in range(self.num_sample)]
        clip = clips[0] if self.num_sample == 1 else torch.stack(clips)
        return {"video": clip.contiguous(), "label": label, "skipped": len(errors)}
