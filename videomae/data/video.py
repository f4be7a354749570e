"""Reading frames through decord, the one decode path for every dataset."""

import os

import numpy as np


class VideoReadError(RuntimeError):
    """A video could not be opened or decoded; the dataset skips it."""


def _reader(path: str, width: int = -1, height: int = -1):
    import decord  # imported here so a worker creates its own reader state after the fork

    return decord.VideoReader(path, num_threads=1, width=width, height=height)


def read_frames(path: str, choose_indices) -> np.ndarray:
    """Decode the frames `choose_indices(num_frames_in_video)` picks, as (T, H, W, 3) uint8.

    Indices are fetched in one sorted batch (decord seeks once per run of frames) and put back
    in the requested order.
    """
    if not os.path.isfile(path):
        raise VideoReadError(f"no such file: {path}")
    if os.path.getsize(path) == 0:
        raise VideoReadError(f"empty file: {path}")
    try:
        reader = _reader(path)
        length = len(reader)
        if length <= 0:
            raise VideoReadError(f"no frames in {path}")
        indices = np.asarray(choose_indices(length), dtype=np.int64)
        order = np.unique(indices)
        try:
            frames = reader.get_batch(order.tolist()).asnumpy()
        except Exception as err:
            if "size must exactly match" not in str(err):
                raise
            # decord mis-copies rows of some frame widths (48, 72, ...) at native size; asking
            # its scaler for the same size explicitly takes a path that copies them correctly.
            height, width = reader[0].shape[:2]
            frames = _reader(path, width, height).get_batch(order.tolist()).asnumpy()
    except VideoReadError:
        raise
    except Exception as err:  # decord raises DECORDError, RuntimeError and others on bad files
        raise VideoReadError(f"cannot decode {path}: {str(err).splitlines()[0][:200]}") from err
    return frames[np.searchsorted(order, indices)]
