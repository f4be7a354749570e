"""decord 0.6: the design card's decoder (wheels for x86-64 Linux, Windows and Intel macOS only)."""

from collections.abc import Callable

import numpy as np

from videomae.data.decoders.probe import probe_size


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


def read(
    path: str,
    known: tuple[int, int] | None,
    target: Callable[[int, int], tuple[int, int] | None],
    pick: Callable[[int], np.ndarray],
) -> tuple[np.ndarray, tuple[int, int] | None]:
    known = known or probe_size(path)
    # With the size known, always ask for an explicit size (reduced, or native): decord then
    # converts through its scaler, which is as fast and avoids most of its native-size quirk.
    size = (target(*known) or known) if known else None
    height, width = size if size else (-1, -1)
    reader = _reader(path, width, height)
    order = pick(len(reader)).tolist()
    try:
        frames = reader.get_batch(order).asnumpy()
    except Exception as err:
        if "size must exactly match" not in str(err):
            raise
        # decord mis-copies frames of a few output widths (48 and 72 px among 32-256): decode
        # 16 px wider instead, aspect ratio kept (the crops that follow absorb the rescale).
        h, w = size if size else reader[0].shape[:2]
        del reader
        frames = _reader(path, w + 16, round(h * (w + 16) / w)).get_batch(order).asnumpy()
        known = known or (h, w)  # the native size, not the rescaled one
    return frames, known or (None if size else tuple(frames.shape[1:3]))
