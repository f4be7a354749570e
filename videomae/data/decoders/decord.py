"""decord 0.6: the design card's decoder (wheels for x86-64 Linux, Windows and Intel macOS only).

Its frame i is its own index, the original code's: presentation order on constant and variable
frame rate files, but not on open-GOP H.264 (late frames one later) nor on MPEG-4 B-frame AVI (up
to tens of frames off). So `data.backend=auto` does not take it, and naming it warns at start-up
(decoders/selftest.py); it stays for reproducing the original code's frames.
"""

import functools
import os

import numpy as np

from videomae.data.decoders.frame_size import displayed_size
from videomae.data.decoders.reader import Reader


def missing() -> str | None:
    try:
        import decord  # noqa: F401
    except ImportError:
        return (
            "decord is not installed (it has no wheel for this platform); use data.backend=pyav "
            "(or auto), or install decord from source"
        )
    return None


def _reader(path: str, width: int = -1, height: int = -1):
    import decord  # imported here so a worker creates its own reader state after the fork

    return decord.VideoReader(path, num_threads=1, width=width, height=height)


@functools.lru_cache(maxsize=65536)
def _size(path: str, file_size: int, mtime_ns: int) -> tuple[int, int] | None:
    """The header's size, read once per process while the file is unchanged."""
    return displayed_size(path)


class DecordReader(Reader):
    def __init__(self, path: str):
        info = os.stat(path)
        self._path = path
        self._size = _size(path, info.st_size, info.st_mtime_ns)
        # With the size known, ask for it explicitly: decord then converts through its scaler,
        # which is as fast and avoids most of its native-size quirk. Reduced sizes are scaled
        # afterwards, as for every backend (decoders/resize.py): decord's own scaler gives other
        # pixels.
        height, width = self._size if self._size else (-1, -1)
        self._reader = _reader(path, width, height)

    def __len__(self) -> int:
        return len(self._reader)

    def times(self) -> np.ndarray | None:
        """decord's own frame times (it indexes frames itself: decoders/timeline.py)."""
        stamps = np.asarray(self._reader.get_frame_timestamp(np.arange(len(self._reader)))[:, 0], np.float64)
        return stamps - stamps[0] if len(stamps) else stamps

    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        order = indices.tolist()
        try:
            return self._reader.get_batch(order).asnumpy()
        except Exception as err:
            if "size must exactly match" not in str(err):
                raise
        # decord mis-copies frames of a few explicit widths (48 and 72 px among 32-256): ask for its
        # own native size instead
        self._reader = None
        self._reader = _reader(self._path)
        return self._reader.get_batch(order).asnumpy()

    def close(self) -> None:
        self._reader = None  # decord closes the file when its reader is dropped


def open_video(path: str) -> DecordReader:
    return DecordReader(path)
