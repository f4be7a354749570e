"""torchcodec: PyTorch's decoder. It links FFmpeg's shared libraries from the system, so it is an
optional extra (`pip install 'videomae[torchcodec]'` plus FFmpeg 4-7 from the system)."""

from collections.abc import Callable

import numpy as np

from videomae.data.decoders.probe import probe_size

FIX = (
    "install FFmpeg's shared libraries (apt-get install ffmpeg, brew install ffmpeg or "
    "conda install -c conda-forge ffmpeg), or use data.backend=pyav"
)


def missing() -> str | None:
    try:
        import torchcodec.decoders  # noqa: F401  (loads libtorchcodec, which links FFmpeg)
    except ImportError:
        return f"torchcodec is not installed: pip install 'videomae[torchcodec]' (and {FIX})"
    except (RuntimeError, OSError) as err:  # torchcodec is there but FFmpeg's libraries are not
        return f"torchcodec cannot load FFmpeg's shared libraries ({_first(err)}): {FIX}"
    return None


def _first(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:120] if lines else type(err).__name__


def _open(path: str, size: tuple[int, int] | None):
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    # approximate: trust the header's frame count and rate instead of scanning the whole file
    return VideoDecoder(
        path,
        seek_mode="approximate",
        num_ffmpeg_threads=1,
        dimension_order="NHWC",
        device="cpu",
        transforms=[Resize(size)] if size else None,
    )


def read(
    path: str,
    known: tuple[int, int] | None,
    target: Callable[[int, int], tuple[int, int] | None],
    pick: Callable[[int], np.ndarray],
) -> tuple[np.ndarray, tuple[int, int]]:
    known = known or probe_size(path)
    decoder = _open(path, target(*known) if known else None)
    meta = decoder.metadata
    native = known or (meta.height, meta.width)
    if known is None and target(*native):  # the size was not in the header: reopen, resized
        decoder = _open(path, target(*native))
    count = meta.num_frames
    if not count:  # no count in the header: scan the file once for it
        from torchcodec.decoders import VideoDecoder

        count = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=1).metadata.num_frames or 0
    order = pick(int(count))
    return decoder.get_frames_at(order.tolist()).data.numpy(), native
