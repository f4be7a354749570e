"""Reading frames, the one decode path for every dataset, over a choice of decoder backends.

`VideoDecoder` is what datasets hold. Its contract, whatever the backend (videomae.data.decoders:
decord, PyAV, torchcodec): one sorted batch fetch per video, a reduced-size decode where asked,
a time limit per video, and `VideoReadError` for every kind of broken file. It is cheap to pickle:
the backend and the watchdog thread are set up lazily inside the process that decodes (a
DataLoader worker), never before the fork.
"""

import concurrent.futures
import functools
import math
import os
import queue
import stat
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike

from videomae.data import decoders
from videomae.data.decoders.reader import Reader
from videomae.data.decoders.resize import resize
from videomae.utils.pixels import LUMA_BT601

T = TypeVar("T")

# What the frames become after decoding: every backend decodes to RGB (a gray or 16-bit source
# included, reduced to 8 bits, R = G = B); `gray` takes the BT.601 luma of it, which gives a gray
# source its own values back; `rgba` decodes through PyAV, whatever data.backend says, the one
# backend that gives a video's alpha plane (opaque, 255, where the video has none).
CHANNELS = {"rgb": 3, "gray": 1, "rgba": 4}


def check_channels(channels: str) -> None:
    if channels not in CHANNELS:
        raise ValueError(f"data.channels={channels!r} is not one of {', '.join(CHANNELS)}")


def channels_for(in_chans: int) -> str:
    """The data.channels that gives a model of `in_chans` its frames (ValueError: none does)."""
    for name, count in CHANNELS.items():
        if count == in_chans:
            return name
    raise ValueError(
        f"no data.channels gives {in_chans}-channel frames "
        f"({', '.join(f'{k}: {v}' for k, v in CHANNELS.items())})"
    )


def to_channels(frames: np.ndarray, channels: str) -> np.ndarray:
    """uint8 (..., H, W, 3) RGB frames -> (..., H, W, CHANNELS[channels])."""
    if channels != "gray":
        return frames
    luma = frames.astype(np.float32) @ np.asarray(LUMA_BT601, np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]


class VideoReadError(RuntimeError):
    """A video could not be opened or decoded; the dataset skips it."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def short_side_size(height: int, width: int, size: int, mode: str = "original") -> tuple[int, int]:
    """(height, width) resized so that the short side is `size`, the aspect ratio kept.

    `original`: the long side truncated, int(size x long / short), as MCG-NJU/VideoMAE resizes
    (320 x 568 -> 224 x 397); `uniform`: rounded (224 x 398). A square frame counts as wide.
    """
    if min(height, width) == size:
        return height, width
    if mode == "original":
        if width < height:
            return size * height // width, size
        return size, size * width // height
    scale = size / min(height, width)
    if height <= width:
        return size, max(size, round(width * scale))
    return max(size, round(height * scale)), size


def scaled_size(
    height: int, width: int, short_side: int | None, mode: str = "original"
) -> tuple[int, int] | None:
    """(height, width) with the short side brought down to `short_side`; None if no reduction."""
    if not short_side or min(height, width) <= short_side:
        return None
    return short_side_size(height, width, short_side, mode)


class _Watchdog:
    """Runs decodes on one daemon thread so that a decode stuck inside a decoder (each releases the
    GIL in its C calls) cannot hang the worker: the caller gives up after `timeout` seconds, the
    stuck thread is abandoned and a fresh one takes the next job."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, args=(self._jobs,), daemon=True)
        self._thread.start()

    @staticmethod
    def _loop(jobs: queue.SimpleQueue) -> None:
        while True:
            fn, future = jobs.get()
            try:
                future.set_result(fn())
            except BaseException as err:  # handed back to the caller
                future.set_exception(err)

    def run(self, fn: Callable, timeout: float):
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError from None


def _not_a_file(path: str) -> str:
    """Why `path` is not a video file to read: missing, or a folder, FIFO, socket or device."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return f"not a regular file ({next((k for test, k in kinds if test(mode)), 'a device')})"


class VideoDecoder:
    """Decodes the frames a sampler picks, as one sorted batch fetch, at a reduced size when asked.

    `backend`: decord | pyav | torchcodec | auto (videomae.data.decoders; auto: PyAV, else
    torchcodec), resolved in the process that decodes. Frame i is the i-th frame in presentation
    order (decoders/timeline.py), whatever the backend.
    `short_side`: hand out frames with at most this short side (scaled after decoding, by one
    scaler for every backend, so that all give the same pixels).
    `timeout`: seconds one video may take before it counts as unreadable (None: no limit).
    """

    def __init__(self, timeout: float | None = 60.0, backend: str = "auto", channels: str = "rgb"):
        decoders.check_name(backend)  # a wrong name fails here, not in a worker
        check_channels(channels)
        self.channels = channels
        self.timeout = timeout
        self.backend = backend
        self._pid: int | None = None

    def _state(self) -> None:
        if self._pid != os.getpid():  # first use in this process (or after a fork)
            self._pid = os.getpid()
            self._watchdog: _Watchdog | None = None
            # a backend named explicitly was checked, and any warning given, at start-up
            self._module = decoders.module(decoders.resolve(self.backend, self.backend == "auto"))

    def __getstate__(self):
        return {"timeout": self.timeout, "backend": self.backend, "channels": self.channels, "_pid": None}

    @property
    def backend_name(self) -> str:
        """The backend that decodes in this process (auto resolved)."""
        self._state()
        return self._module.__name__.rsplit(".", 1)[1]

    def read(
        self,
        path: str,
        choose_indices: Callable[[int], ArrayLike],
        short_side: int | None = None,
        size_mode: str = "original",
    ) -> np.ndarray:
        """Frames `choose_indices(num_frames_in_video)` picks, as uint8 (*indices.shape, H, W, 3).

        `size_mode`: how a reduced size rounds (see `short_side_size`).

        Raises VideoReadError for a missing, empty, unreadable or too slow video.
        """
        return self.read_with_indices(path, choose_indices, short_side, size_mode)[0]

    def read_with_indices(
        self,
        path: str,
        choose_indices: Callable[[int], ArrayLike],
        short_side: int | None = None,
        size_mode: str = "original",
    ) -> tuple[np.ndarray, np.ndarray]:
        """`read`'s frames, and the int64 frame indices they are (what `choose_indices` returned)."""
        self._state()
        if not os.path.isfile(path):
            raise VideoReadError(f"{path}: {_not_a_file(path)}")
        if os.path.getsize(path) == 0:
            raise VideoReadError(f"{path}: empty file")
        job = functools.partial(self._read, path, choose_indices, short_side, size_mode)
        try:
            frames, indices = self._run(job, path)
        except VideoReadError:
            raise
        except Exception as err:  # DECORDError, av.error.*, RuntimeError and others on bad files
            raise VideoReadError(f"{path}: cannot decode: {_first_line(err)}") from err
        return to_channels(frames, self.channels), indices

    def _run(self, job: Callable[[], T], path: str) -> T:
        """`job()`, given up after `timeout` seconds."""
        if self.timeout is None or self.timeout <= 0:
            return job()
        if self._watchdog is None:
            self._watchdog = _Watchdog()
        try:
            return self._watchdog.run(job, self.timeout)
        except TimeoutError:
            self._watchdog = None  # abandon the stuck thread
            raise VideoReadError(f"{path}: decoding took over {self.timeout:g} s") from None

    def _open(self, path: str) -> Reader:
        if self.channels == "rgba":  # only PyAV gives the alpha plane
            return decoders.module("pyav").open_video(path, fmt="rgba")
        return self._module.open_video(path)

    def _read(
        self, path: str, choose_indices: Callable[[int], ArrayLike], short_side: int | None, size_mode: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Open the video, choose the frames, fetch them in one sorted pass, scale, reorder."""
        with self._open(path) as reader:
            indices, order = _chosen(path, choose_indices, reader)
            frames = reader.frames_at(order)
        if frames.shape[0] != len(order):
            raise VideoReadError(f"{path}: the decoder returned {frames.shape[0]} of {len(order)} frames")
        frames = resize(frames, scaled_size(frames.shape[1], frames.shape[2], short_side, size_mode))
        return frames[np.searchsorted(order, indices)], indices


def _chosen(
    path: str, choose_indices: Callable[[int], ArrayLike], reader: Reader
) -> tuple[np.ndarray, np.ndarray]:
    """The indices `choose_indices` picks for the video `reader` has open, and the frames to fetch
    for them: sorted and unique, so that the backend decodes forward once through the window."""
    length = len(reader)
    if length <= 0:
        raise VideoReadError(f"{path}: no frames")
    indices = np.asarray(choose_indices(reader.frame_count()), dtype=np.int64)
    order = np.unique(indices)
    if order[0] < 0 or order[-1] >= length:
        raise ValueError(f"frame indices outside 0..{length - 1}")
    return indices, order


def read_frames(
    path: str, choose_indices, short_side: int | None = None, backend: str = "auto", channels: str = "rgb"
) -> np.ndarray:
    """One-off decode without a time limit (see VideoDecoder.read)."""
    decoder = VideoDecoder(timeout=None, backend=backend, channels=channels)
    return decoder.read(path, choose_indices, short_side)


def decode_short_side(input_size: int, scales=(1.0,)) -> int:
    """The short side to decode at so that the smallest crop scale still covers `input_size`."""
    return int(math.ceil(input_size / min(scales)))
