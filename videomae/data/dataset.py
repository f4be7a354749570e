"""Clip datasets over video files, tolerant of broken ones.

A video that cannot be read (missing, empty, truncated, not a video, too slow to decode) is
replaced by another, random one. Every item says what it met on the way: `skipped`, the number of
videos that failed, and `failed`, their "path: reason" lines joined by newlines (a string, so the
default collate keeps one per item); the training loop counts, logs and limits them
(videomae.training.callbacks.SkippedVideos).
"""

import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from videomae.data.batches import ClipItem, MultiViewItem, WindowItem
from videomae.data.device_pixels import collate_windows, draw_crop
from videomae.data.resume import derive_seed, seed_everything_from
from videomae.data.sampling import ClipSampler, check_mode
from videomae.data.transforms import PretrainTransform, resize_short_side, spatial_crops
from videomae.data.video import VideoDecoder, VideoReadError
from videomae.utils.errors import DataError


class _VideoDataset(Dataset):
    # Set per epoch by the training loader (videomae.data.resume): each item then draws its
    # augmentations from (epoch seed, index), whichever worker decodes it.
    epoch_seed: int | None = None
    # K > 0: the epoch seeds repeat every K epochs, so each video's clips and augmentations do
    # (a distillation's teacher cache then hits from the (K + 1)-th epoch on).
    clip_cycle: int = 0

    def __init__(
        self,
        samples: list[tuple[str, int]],
        decoder: VideoDecoder | None = None,
        short_side: int | None = None,
        max_consecutive_failures: int = 20,
        size_mode: str = "original",
    ):
        if not samples:
            raise ValueError("the dataset has no videos")
        self.samples = samples
        self.decoder = decoder if decoder is not None else VideoDecoder()
        self.short_side = short_side
        self.max_consecutive_failures = max_consecutive_failures
        self.size_mode = check_mode(size_mode)  # how resized sides round (original: truncated)

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, index: int, choose: Callable[[int], np.ndarray]):
        """(index, label, frames, frame indices, failures): the video at `index`, or the first
        readable one of random replacements."""
        failures: list[str] = []
        while True:
            path, label = self.samples[index]
            try:
                read = self.decoder.read_with_indices
                frames, indices = read(path, choose, self.short_side, self.size_mode)
                return index, label, frames, indices, failures
            except VideoReadError as err:
                failures.append(str(err))
            if len(failures) >= self.max_consecutive_failures:
                raise DataError(
                    f"{len(failures)} videos in a row could not be read; is data.root right? "
                    "Examples:\n  " + "\n  ".join(list(dict.fromkeys(failures))[:5])
                )
            index = random.randrange(len(self.samples))


class VideoClipDataset(_VideoDataset):
    """One clip per item, for training (random clip, random augmentation) or validation (a fixed
    transform, on the sampler's centre view, or with `random_eval_clip` on a random training clip
    as the original validates, drawn from (`eval_seed`, index): the same clip in every pass).

    Item: `video` uint8 (C, T, H, W), or (num_sample, C, T, H, W) when one decode serves
    `num_sample` augmented clips; `label`; `index` (of the video used); `frame_indices` (its
    frames); `skipped`; `failed`.
    With `defer_pixels` (pre-training, a PretrainTransform): instead of `video`, the decoded
    window `frames` uint8 (T, H, W, 3) and each clip's drawn crop and flip, `crops` (num_sample, 6),
    for the training device to apply (videomae.data.device_pixels).
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        sampler: ClipSampler | Callable[[int, np.random.Generator], np.ndarray],
        transform: Callable[[torch.Tensor], torch.Tensor],
        num_sample: int = 1,
        train: bool = True,
        decoder: VideoDecoder | None = None,
        short_side: int | None = None,
        max_consecutive_failures: int = 20,
        size_mode: str = "original",
        random_eval_clip: bool = False,
        eval_seed: int = 0,
        defer_pixels: bool = False,
    ):
        super().__init__(samples, decoder, short_side, max_consecutive_failures, size_mode)
        self.defer_pixels = defer_pixels  # see videomae.data.device_pixels
        self.sampler = sampler
        self.transform = transform
        self.num_sample = num_sample
        self.train = train
        self.random_eval_clip = random_eval_clip
        self.eval_seed = eval_seed

    @property
    def collate_fn(self) -> Callable | None:
        """The loader's collate for these items (None: the default)."""
        return collate_windows if self.defer_pixels else None

    def choose(self, num_video_frames: int, rng: np.random.Generator) -> np.ndarray:
        if self.train or self.random_eval_clip:
            return self.sampler(num_video_frames, rng)
        assert isinstance(self.sampler, ClipSampler), "the centre view is a ClipSampler's"
        return self.sampler.views(num_video_frames, 1)[0]

    def __getitem__(self, index: int) -> ClipItem | WindowItem:
        if self.epoch_seed is not None:
            seed_everything_from(self.epoch_seed, index)
        if self.train:
            rng = np.random.default_rng(random.getrandbits(63))
        else:  # the same clip in every validation pass, whichever worker or rank reads it
            rng = np.random.default_rng(derive_seed(self.eval_seed, index))
        index, label, frames, indices, failures = self._load(index, lambda n: self.choose(n, rng))
        skipped, failed = len(failures), "\n".join(failures)
        frame_indices = torch.from_numpy(indices.astype(np.int64))  # a teacher cache's record
        if self.defer_pixels:
            assert isinstance(self.transform, PretrainTransform), "defer_pixels: pre-training"
            crops = [draw_crop(self.transform, *frames.shape[1:3]) for _ in range(self.num_sample)]
            return WindowItem(
                frames=torch.from_numpy(frames), crops=torch.tensor(crops), label=label, index=index,
                skipped=skipped, failed=failed, frame_indices=frame_indices,
            )  # fmt: skip
        video = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W) for the transforms
        clips = [self.transform(video).transpose(0, 1) for _ in range(self.num_sample)]
        # Left as a (C, T, H, W) view of the transform's (T, C, H, W) output: the collate's stack
        # copies it into the batch anyway, and one copy fewer is 5% of an item at num_sample=1.
        clip = clips[0] if self.num_sample == 1 else torch.stack(clips)
        return ClipItem(
            video=clip, label=label, index=index, skipped=skipped, failed=failed, frame_indices=frame_indices
        )


class MultiViewDataset(_VideoDataset):
    """Every test view of a video in one item, from one decode: `num_clips` clips spread over the
    video x `num_crops` crops along the long side, short side resized to `size`.

    Item: `video` uint8 (V, C, T, size, size) with V = num_clips x num_crops, clip-major;
    `clip_index`, `crop_index` (V,); `video_id` (the index of the video used); `label`;
    `skipped`; `failed`. An evaluator averages softmax over the views of each `video_id` (and
    drops repeats of a `video_id`, which the distributed sampler's padding or a replaced broken
    video can produce).
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        sampler: ClipSampler,
        size: int,
        num_clips: int = 5,
        num_crops: int = 3,
        decoder: VideoDecoder | None = None,
        max_consecutive_failures: int = 20,
        size_mode: str = "original",
    ):
        super().__init__(samples, decoder, size, max_consecutive_failures, size_mode)
        self.sampler = sampler
        self.size = size
        self.num_clips = num_clips
        self.num_crops = num_crops

    def __getitem__(self, index: int) -> MultiViewItem:
        index, label, frames, _, failures = self._load(index, lambda n: self.sampler.views(n, self.num_clips))
        clips, length = frames.shape[:2]  # (clips, T, H, W, C)
        video = torch.from_numpy(frames).flatten(0, 1).permute(0, 3, 1, 2)  # (clips*T, C, H, W)
        video = resize_short_side(video, self.size, self.size_mode).unflatten(0, (clips, length))
        views = [
            crop.transpose(0, 1) for clip in video for crop in spatial_crops(clip, self.size, self.num_crops)
        ]
        clip_index = torch.arange(clips).repeat_interleave(self.num_crops)
        return MultiViewItem(
            video=torch.stack(views).contiguous(),
            clip_index=clip_index,
            crop_index=torch.arange(self.num_crops).repeat(clips),
            video_id=index,
            label=label,
            skipped=len(failures),
            failed="\n".join(failures),
        )
