"""What every backend opens: a `Reader` of one video, asked for its length, its timeline and its
frames, the way decord's `VideoReader` and torchcodec's `VideoDecoder` are. Frame i is the i-th
frame in presentation order (decoders/timeline.py), whatever the backend."""

import abc

import numpy as np

from videomae.data.decoders.timeline import FrameCount


class Reader(abc.ABC):
    """One opened video (a context manager: it closes the file on leaving)."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of frames."""

    @abc.abstractmethod
    def times(self) -> np.ndarray | None:
        """Each frame's presentation time in seconds from the first frame, one per index (float64),
        or None where the file carries no timestamps."""

    @abc.abstractmethod
    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        """uint8 (len(indices), H, W, C) at the size displayed, for sorted, unique `indices` in
        0..len-1: one forward decode through them."""

    def close(self) -> None:  # noqa: B027  (a backend whose library closes on its own has nothing to do)
        """Releases the file."""

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def frame_count(self) -> FrameCount:
        """The length as the samplers take it: an int that can also give `times()`."""
        return FrameCount(len(self), self.times)

    def frame_rate(self) -> float | None:
        """Frames per second over the whole video (its mean, for a variable rate); None without
        timestamps or with a single frame."""
        times = self.times()
        if times is None or len(times) < 2 or times[-1] <= 0:
            return None
        return (len(times) - 1) / float(times[-1])

    def frames_at_times(self, seconds) -> np.ndarray:
        """The frames shown at `seconds` (from the first frame; any order, repeats allowed): at each
        time the last frame starting at or before it, the last frame past the end."""
        times = self.times()
        if times is None:
            raise ValueError("the video has no frame timestamps")
        at = np.asarray(seconds, np.float64)
        if (at < 0).any():
            raise ValueError(f"times before the first frame: {at[at < 0].tolist()}")
        indices = np.searchsorted(times, at, side="right") - 1
        order = np.unique(indices)
        return self.frames_at(order)[np.searchsorted(order, indices)]
