"""Which frames make a clip: dense windows (Kinetics, UCF101, HMDB51) or segments (SSv2).

Training draws one random clip; evaluation takes `num_clips` fixed views spread over the video
(one view: the centre). Videos shorter than a clip are never skipped: dense sampling repeats the
last frame, segment sampling repeats frames, as the original code does.
"""

from dataclasses import dataclass

import numpy as np

SAMPLING = ("dense", "segment")


def dense_indices(
    num_video_frames: int, num_frames: int, sampling_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """A random window of `num_frames * sampling_rate` frames, `num_frames` taken evenly.

    A shorter video uses all of its frames and repeats the last one, as the original does.
    """
    window = num_frames * sampling_rate
    if num_video_frames <= window:
        steps = max(num_video_frames // sampling_rate, 1)
        index = np.linspace(0, num_video_frames, num=steps, endpoint=False)
        index = np.concatenate([index, np.full(max(num_frames - len(index), 0), num_video_frames - 1)])
    else:
        end = int(rng.integers(window, num_video_frames + 1))
        index = np.linspace(end - window, end, num=num_frames, endpoint=False)
    return np.clip(index[:num_frames].astype(np.int64), 0, num_video_frames - 1)


def segment_indices(num_video_frames: int, num_segments: int, rng: np.random.Generator | None) -> np.ndarray:
    """One frame from each of `num_segments` equal segments (random in training, the middle
    otherwise), as the original does for Something-Something-v2."""
    edges = np.linspace(0, num_video_frames, num_segments + 1)
    if rng is None:
        index = (edges[:-1] + edges[1:]) / 2
    else:
        index = edges[:-1] + rng.uniform(0, 1, num_segments) * (edges[1:] - edges[:-1])
    return np.clip(index.astype(np.int64), 0, num_video_frames - 1)


def dense_views(num_video_frames: int, num_frames: int, sampling_rate: int, num_clips: int) -> np.ndarray:
    """(num_clips, num_frames) indices: the original's test sampling. Every `sampling_rate`-th
    frame of the whole video (the last repeated if too few), then `num_clips` windows of
    `num_frames` at evenly spaced starts (one clip: the centre window)."""
    strided = np.arange(0, num_video_frames, sampling_rate)
    if len(strided) < num_frames:
        strided = np.concatenate([strided, np.full(num_frames - len(strided), strided[-1])])
    spare = len(strided) - num_frames
    if num_clips == 1:
        starts = [spare // 2]
    else:
        starts = [int(c * spare / (num_clips - 1)) for c in range(num_clips)]
    return np.stack([strided[s : s + num_frames] for s in starts])


def segment_views(num_video_frames: int, num_segments: int, num_clips: int) -> np.ndarray:
    """(num_clips, num_segments) indices: view c takes the frame at fraction c / num_clips of
    every segment (the original's 2 SSv2 test views: segment starts and middles); one view takes
    the middles."""
    tick = num_video_frames / num_segments
    fractions = [0.5] if num_clips == 1 else [c / num_clips for c in range(num_clips)]
    index = np.array([[int(tick * (x + f)) for x in range(num_segments)] for f in fractions])
    return np.clip(index, 0, num_video_frames - 1).astype(np.int64)


@dataclass(frozen=True)
class ClipSampler:
    """Picks a clip's frame indices: `dense` windows or SSv2-style `segment`s."""

    num_frames: int
    sampling: str = "dense"
    sampling_rate: int = 4

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling={self.sampling!r} is not one of {', '.join(SAMPLING)}")

    def __call__(self, num_video_frames: int, rng: np.random.Generator) -> np.ndarray:
        """One random training clip: (num_frames,)."""
        if self.sampling == "segment":
            return segment_indices(num_video_frames, self.num_frames, rng)
        return dense_indices(num_video_frames, self.num_frames, self.sampling_rate, rng)

    def views(self, num_video_frames: int, num_clips: int = 1) -> np.ndarray:
        """Fixed evaluation clips: (num_clips, num_frames)."""
        if self.sampling == "segment":
            return segment_views(num_video_frames, self.num_frames, num_clips)
        return dense_views(num_video_frames, self.num_frames, self.sampling_rate, num_clips)
