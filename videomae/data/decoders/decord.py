"""decord 0.6: the design card's decoder (wheels for x86-64 Linux, Windows and Intel macOS only).

Its frame i is its own index, the original code's: presentation order on constant and variable
frame rate files, but not on open-GOP H.264 (late frames one later) nor on MPEG-4 B-frame AVI (up
to tens of frames off). So `data.backend=auto` does not take it, and naming it warns at start-up
(decoders/selftest.py); it stays for reproducing the original code's frames.
"""

from collections.abc import Callable

import numpy as np

from videomae.data.decoders.probe import probe_size
from videomae.data.decoders.resize import resize
from videomae.data.decoders.timeline import FrameCount


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
    # With the size known, ask for it explicitly: decord then converts through its scaler, which
    # is as fast and avoids most of its native-size quirk. Reduced sizes are scaled afterwards, as
    # for every backend (decoders/resize.py): decord's own scaler gives other pixels.
    height, width = known if known else (-1, -1)
    reader = _reader(path, width, height)
    # decord's own frame times (it indexes frames itself: decoders/timeline.py)
    stamps = lambda: reader.get_frame_timestamp(np.arange(len(reader)))[:, 0]  # noqa: E731
    order = pick(FrameCount(len(reader), stamps)).tolist()
    try:
        frames = reader.get_batch(order).asnumpy()
    except Exception as err:
        if "size must exactly match" not in str(err):
            raise
        # decord mis-copies frames of a few explicit widths (48 and 72 px among 32-256): ask for
        # its own native size instead
        del reader
        frames = _reader(path).get_batch(order).asnumpy()
    native = known or tuple(frames.shape[1:3])
    return resize(frames, target(*native)), native
