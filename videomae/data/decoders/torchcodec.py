"""torchcodec: PyTorch's decoder. It links FFmpeg's shared libraries from the system, so it is an
optional extra (`pip install 'videomae[torchcodec]'` plus FFmpeg 4-7 from the system)."""

import functools
import json
import os

import numpy as np

from videomae.data.decoders import pyav
from videomae.data.decoders.reader import Reader
from videomae.data.decoders.selftest import clips
from videomae.data.decoders.timeline import TAIL_SLACK, Timeline, cached_scan, seconds

FIX = (
    "install FFmpeg's shared libraries (apt-get install ffmpeg, brew install ffmpeg or "
    "conda install -c conda-forge ffmpeg), or use data.backend=pyav"
)


def missing() -> str | None:
    """Why torchcodec cannot decode here, or None. It imports without FFmpeg's libraries and fails
    at the first decode, so this decodes a tiny clip (decoders/selftest.py)."""
    try:
        import torchcodec.decoders  # noqa: F401
    except ImportError:
        return f"torchcodec is not installed: pip install 'videomae[torchcodec]' (and {FIX})"
    except (RuntimeError, OSError) as err:  # an older torchcodec loads FFmpeg at import
        return f"torchcodec cannot load FFmpeg's shared libraries ({_first(err)}): {FIX}"
    try:  # frame i's timestamp comes from PyAV's list of the packets (_timeline)
        import av  # noqa: F401
    except ImportError as err:
        why = _first(err)
        return f"torchcodec reads the frame list through PyAV, which does not import ({why}): pip install av"
    return _decodes()


@functools.cache
def _decodes() -> str | None:
    try:
        clip = clips()["vfr"]
    except Exception:  # PyAV's FFmpeg cannot write the clip: the import is all there is to check
        return None
    try:
        _open(clip, None).get_frame_at(0)
    except Exception as err:
        return f"torchcodec cannot decode: FFmpeg's shared libraries do not load ({_first(err)}): {FIX}"
    return None


def _first(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:120] if lines else type(err).__name__


def _mapping(timeline: Timeline) -> str:
    """The timeline as torchcodec's frame mapping, so that its frame i is ours (its own scan
    places frames of MPEG-4 B-frame AVI one early with FFmpeg 5, and its approximate mode assumes a
    constant frame rate)."""
    keys = set(timeline.keys.tolist())
    frames = [
        {"pts": pts, "duration": duration, "key_frame": int(pts in keys)}
        for pts, duration in zip(timeline.pts.tolist(), timeline.durations().tolist(), strict=True)
    ]
    return json.dumps({"frames": frames})


def _open(path: str, timeline: Timeline | None):
    from torchcodec.decoders import VideoDecoder

    if timeline is None:  # packets without pts: torchcodec's own scan
        return VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=1, dimension_order="NHWC")
    mapping = _mapping(timeline)
    return VideoDecoder(path, custom_frame_mappings=mapping, num_ffmpeg_threads=1, dimension_order="NHWC")


# FFmpeg's AVFMT_TS_DISCONT: MPEG program and transport streams (.mpg, .vob, .ts, .mts). They have no
# seek index; torchcodec seeks them by byte and takes the demuxer's timestamps after the seek, which
# are wrong there (frames 1 to 12 off, or no frame at all), in every seek mode.
TS_DISCONT = 0x0200


def _timeline(path: str) -> tuple[Timeline | None, bool]:
    """The stream's timeline, and whether torchcodec seeks the file exactly (see TS_DISCONT and
    _keys_seek_exactly)."""
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.best("video")  # as torchcodec picks it
        if container.format.flags & TS_DISCONT:
            return None, False
        timeline = cached_scan(path, container, stream)
        info = os.stat(path)
        return timeline, _keys_seek_exactly(path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _keys_seek_exactly(path: str, size: int, mtime: int) -> bool:
    """False when a seek to a keyframe's pts can land on a later keyframe: a keyframe decoded (dts)
    at or before an earlier keyframe's pts, as in MPEG-4 AVI of I B B I B B (all keyframes, the
    AVI index in decode time). torchcodec then returned frame i+3 for frame i."""
    import av

    with av.open(path) as container:
        keys = [
            (p.pts, p.dts)
            for p in container.demux(container.streams.best("video"))
            if p.size and p.is_keyframe
        ]
    return not any(
        later[1] is not None and earlier[0] is not None and later[1] <= earlier[0]
        for earlier, later in zip(keys, keys[1:], strict=False)
    )


class TorchcodecReader(Reader):
    def __init__(self, path: str, timeline: Timeline | None):
        self._path, self.timeline = path, timeline
        self._decoder = _open(path, timeline)
        self._count = len(timeline) if timeline is not None else int(self._decoder.metadata.num_frames or 0)

    def __len__(self) -> int:
        return self._count

    def times(self) -> np.ndarray | None:
        return None if self.timeline is None else seconds(self.timeline)

    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        """As displayed: torchcodec applies a rotation."""
        last = len(self.timeline) - 1 if self.timeline is not None else int(indices[-1])
        for give_up in range(TAIL_SLACK + 1):
            # an FFmpeg that does not flush the final frame (5.x on MPEG-4 B-frame AVI) gives no
            # last frame: within TAIL_SLACK of the end, the last one it gives stands in, as PyAV does
            try:
                return self._decoder.get_frames_at(np.minimum(indices, last - give_up).tolist()).data.numpy()
            except RuntimeError as err:
                near_end = indices[-1] >= last - TAIL_SLACK and give_up < TAIL_SLACK
                if "no more frames" not in str(err) or not near_end:
                    raise
                self._decoder = _open(self._path, self.timeline)
        raise AssertionError("unreachable: the last try returns or raises")


def open_video(path: str) -> Reader:
    """torchcodec's reader, or PyAV's where torchcodec does not seek the file exactly (PyAV gives
    frame i there: it checks where a seek lands)."""
    timeline, seekable = _timeline(path)
    return TorchcodecReader(path, timeline) if seekable else pyav.open_video(path)
