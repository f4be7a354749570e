"""Which frames make a clip: dense windows (Kinetics, UCF101, HMDB51) or segments (SSv2).

Training draws one random clip; evaluation takes `num_clips` fixed views spread over the video
(one view: the centre). Videos shorter than a clip are never skipped.

Two modes (`data.sampling_mode`):

- `original` (the default): the frames MCG-NJU/VideoMAE's code picks, quirks included, since
  the paper's numbers came from them. Pre-training (its `VideoMAE` dataset) steps `sampling_rate`
  frames from a random start and, in a short video, repeats the last frame it reached, never
  stepping onto the video's last frame. Fine-tuning (`loadvideo_decord`) draws the window's end
  with an exclusive upper bound (the last window is never taken) and takes `num_frames` evenly
  from start to end *inclusive* (offsets 0, 4, 8, 12, 17, ..., 59, 63 for 16 x 4); a short video
  gets `n // rate` frames spread from 0 to n (the last one clipped), then the last frame. SSv2
  segments have an integer length `n // num_segments` (frames past 16 x that are never drawn;
  under 16 frames: frame 0 throughout).
- `uniform`: every window can be drawn, frames at stride `sampling_rate`; a short video is spread
  over all its frames, the last repeated; SSv2 segments are equal fractional parts of the whole
  video.

`fps` (`data.sampling=fps`) picks by time instead of by index: frames `1 / data.target_fps`
seconds apart (or `data.num_frames` over `data.clip_seconds`) from each video's own frame
timestamps, so a 25, 30 or 60 fps file, or a variable-rate one, gives a clip of the same duration.

Test views are the original's in both modes. Every function below is a pure function of the
video's length (and of the random draw, passed in), so that tests can pin each formula.
"""

from dataclasses import dataclass

import numpy as np

SAMPLING = ("dense", "segment", "fps")
SAMPLING_MODES = ("original", "uniform")


def check_mode(mode: str) -> str:
    if mode not in SAMPLING_MODES:
        raise ValueError(f"sampling_mode={mode!r} is not one of {', '.join(SAMPLING_MODES)}")
    return mode


# --- dense windows ------------------------------------------------------------------------------


def window_starts(
    num_video_frames: int, num_frames: int, sampling_rate: int, mode: str = "original", pretrain: bool = False
) -> range:
    """The first frames a training window may start at, all equally likely."""
    window = num_frames * sampling_rate
    if mode == "original" and not pretrain:
        # the end is drawn from [window, n): the window that ends on the last frame never comes
        return range(max(num_video_frames - window, 1))
    return range(max(num_video_frames - window, 0) + 1)


def window_indices(
    num_video_frames: int,
    start: int,
    num_frames: int,
    sampling_rate: int,
    mode: str = "original",
    pretrain: bool = False,
) -> np.ndarray:
    """The `num_frames` frame indices of the training window that starts at `start`."""
    n, window = num_video_frames, num_frames * sampling_rate
    steps = np.arange(num_frames)
    if mode == "uniform":
        if n <= window:  # all of the video, spread, then the last frame repeated
            taken = max(n // sampling_rate, 1)
            index: np.ndarray = np.linspace(0, n, num=taken, endpoint=False).astype(np.int64)
            index = np.concatenate([index, np.full(max(num_frames - taken, 0), n - 1)])[:num_frames]
            return np.clip(index, 0, n - 1).astype(np.int64)
        return start + sampling_rate * steps
    if pretrain:
        # A step is taken only while the frame after it is still inside the video, so the walk
        # stops at the last multiple of the rate at most n - 2 and repeats it.
        reachable = max((n - 2 - start) // sampling_rate, 0)
        return (start + sampling_rate * np.minimum(steps, reachable)).astype(np.int64)
    if n <= window:
        taken = n // sampling_rate
        index = np.concatenate([np.linspace(0, n, num=taken), np.full(num_frames - taken, float(n))])
        return np.clip(index, 0, n - 1).astype(np.int64)
    # evenly from start to start + window, both ends included, then truncated (the end clipped)
    index = np.linspace(start, start + window, num=num_frames)
    return np.clip(index, start, start + window - 1).astype(np.int64)


def dense_indices(
    num_video_frames: int,
    num_frames: int,
    sampling_rate: int,
    rng: np.random.Generator,
    mode: str = "original",
    pretrain: bool = False,
) -> np.ndarray:
    """A random training window of `num_frames * sampling_rate` frames, `num_frames` taken."""
    starts = window_starts(num_video_frames, num_frames, sampling_rate, mode, pretrain)
    start = starts[int(rng.integers(len(starts)))]
    return window_indices(num_video_frames, start, num_frames, sampling_rate, mode, pretrain)


# --- segments (SSv2) ------------------------------------------------------------------------------


def segment_choices(num_video_frames: int, num_segments: int) -> list[range]:
    """`original` mode: the frames each segment may give, all equally likely. Segments have the
    integer length n // num_segments from frame 0; a video shorter than that gives frame 0."""
    length = num_video_frames // num_segments
    if length == 0:
        return [range(1)] * num_segments
    return [range(x * length, (x + 1) * length) for x in range(num_segments)]


def uniform_segment_indices(num_video_frames: int, num_segments: int, fractions: np.ndarray) -> np.ndarray:
    """`uniform` mode: the frame at `fractions` (in [0, 1)) of each of `num_segments` equal,
    fractional segments of the whole video."""
    edges = np.linspace(0, num_video_frames, num_segments + 1)
    index = edges[:-1] + np.asarray(fractions) * (edges[1:] - edges[:-1])
    return np.clip(index.astype(np.int64), 0, num_video_frames - 1)


def segment_indices(
    num_video_frames: int, num_segments: int, rng: np.random.Generator, mode: str = "original"
) -> np.ndarray:
    """One random frame from each of `num_segments` segments (Something-Something-v2)."""
    if mode == "uniform":
        return uniform_segment_indices(num_video_frames, num_segments, rng.uniform(0, 1, num_segments))
    choices = segment_choices(num_video_frames, num_segments)
    return np.array([c[int(rng.integers(len(c)))] for c in choices], dtype=np.int64)


# --- by time (data.sampling=fps) -------------------------------------------------------------------


def frame_times(num_video_frames: int) -> np.ndarray:
    """Each frame's presentation time in seconds from the first, from the decoder's frame count
    (decoders.timeline.FrameCount); a ValueError when the file has no timestamps."""
    times = num_video_frames.times() if hasattr(num_video_frames, "times") else None
    if times is None or len(times) != int(num_video_frames):
        raise ValueError("data.sampling=fps: the video has no frame timestamps")
    return times - times[0]


def latest_start(times: np.ndarray, num_frames: int, fps: float) -> float:
    """The latest clip start (seconds) whose last frame time is still inside the video; 0 for a
    video shorter than the clip."""
    return max(float(times[-1]) - (num_frames - 1) / fps, 0.0)


def time_indices(times: np.ndarray, num_frames: int, fps: float, start: float) -> np.ndarray:
    """The frames shown at `start`, `start + 1/fps`, ... (`num_frames` times): the last frame
    starting at or before each time, whatever the video's own (or variable) frame rate. Past the
    end of a short video the last frame repeats, as the dense sampler repeats it."""
    at = start + np.arange(num_frames) / fps
    index = np.searchsorted(times, at + 1e-9, side="right") - 1  # 1e-9: a time that lands on a frame
    return np.clip(index, 0, len(times) - 1).astype(np.int64)


def time_views(times: np.ndarray, num_frames: int, fps: float, num_clips: int) -> np.ndarray:
    """(num_clips, num_frames): clips at evenly spaced starts over the video (one: the centre)."""
    span = latest_start(times, num_frames, fps)
    starts = [span / 2] if num_clips == 1 else [c * span / (num_clips - 1) for c in range(num_clips)]
    return np.stack([time_indices(times, num_frames, fps, s) for s in starts])


# --- test views (the same in both modes) ------------------------------------------------------------


def dense_views(num_video_frames: int, num_frames: int, sampling_rate: int, num_clips: int) -> np.ndarray:
    """(num_clips, num_frames) indices: the original's test sampling. Every `sampling_rate`-th
    frame of the whole video (the last repeated if too few), then `num_clips` windows of
    `num_frames` at evenly spaced starts (one clip, which the original does not offer: the centre
    window)."""
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
    """Picks a clip's frame indices: `dense` windows or SSv2-style `segment`s, in `mode`
    (`original` | `uniform`, see the module docstring). `pretrain`: the original's pre-training
    walk for dense windows (its fine-tuning sampler otherwise)."""

    num_frames: int
    sampling: str = "dense"
    sampling_rate: int = 4
    mode: str = "original"
    pretrain: bool = False
    fps: float | None = None  # `fps` sampling: frames per second taken from each video's own times

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling={self.sampling!r} is not one of {', '.join(SAMPLING)}")
        if self.sampling == "fps" and not (self.fps and self.fps > 0):
            raise ValueError(f"sampling=fps needs a frame rate > 0, got {self.fps}")
        check_mode(self.mode)

    def __call__(self, num_video_frames: int, rng: np.random.Generator) -> np.ndarray:
        """One random training clip: (num_frames,)."""
        if self.sampling == "fps":
            assert self.fps is not None  # __post_init__
            times = frame_times(num_video_frames)
            start = float(rng.uniform(0.0, latest_start(times, self.num_frames, self.fps)))
            return time_indices(times, self.num_frames, self.fps, start)
        if self.sampling == "segment":
            return segment_indices(num_video_frames, self.num_frames, rng, self.mode)
        return dense_indices(
            num_video_frames, self.num_frames, self.sampling_rate, rng, self.mode, self.pretrain
        )

    def views(self, num_video_frames: int, num_clips: int = 1) -> np.ndarray:
        """Fixed evaluation clips: (num_clips, num_frames)."""
        if self.sampling == "fps":
            assert self.fps is not None  # __post_init__
            return time_views(frame_times(num_video_frames), self.num_frames, self.fps, num_clips)
        if self.sampling == "segment":
            return segment_views(num_video_frames, self.num_frames, num_clips)
        return dense_views(num_video_frames, self.num_frames, self.sampling_rate, num_clips)
