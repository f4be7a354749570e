"""Which frames make a clip."""

from dataclasses import dataclass

import numpy as np


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
        index = np.concatenate([index, np.full(num_frames - len(index), num_video_frames - 1)])
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


@dataclass(frozen=True)
class ClipSampler:
    """Picks a clip's frame indices: `dense` windows or SSv2-style `segment`s."""

    num_frames: int
    sampling: str = "dense"
    sampling_rate: int = 4

    def __call__(self, num_video_frames: int, rng: np.random.Generator) -> np.ndarray:
        if self.sampling == "segment":
            return segment_indices(num_video_frames, self.num_frames, rng)
        return dense_indices(num_video_frames, self.num_frames, self.sampling_rate, rng)
