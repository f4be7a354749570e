"""What "frame i" means, for every backend: the i-th frame in presentation order, i.e. sorted by
presentation timestamp (pts), whatever the frame rate (variable or not), the GOP structure (open,
B-frames) or the container (mp4, avi, mkv, webm). A video's length is its number of such frames.

`scan` reads it from the container's packets (demuxed, not decoded: about 1 ms for a 10 s video)
through PyAV, which every install has, so all backends index frames from the same list: PyAV
places each decoded frame by its pts in that list; torchcodec is handed the list as its frame
mapping. decord indexes frames itself and differs on some files (see decoders/decord.py).
"""

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A header or packet list may count a few frames more than a decoder gives (a dropped last frame,
# a decoder that does not flush the final B-frame); within this many of the end, the last decoded
# frame stands in for the missing ones, as a player would.
TAIL_SLACK = 4


@dataclass(frozen=True)
class Timeline:
    """pts[i]: frame i's presentation timestamp (sorted, in `time_base` units); `keys`: the sorted
    pts of keyframes (where decoding can start)."""

    pts: np.ndarray
    keys: np.ndarray
    time_base: float

    def __post_init__(self):
        # most streams are on a regular grid (a constant frame rate): then an index is arithmetic
        gaps = np.diff(self.pts)
        step = int(gaps[0]) if len(gaps) and gaps[0] > 0 and (gaps == gaps[0]).all() else 0
        object.__setattr__(self, "_step", step)

    def __len__(self) -> int:
        return len(self.pts)

    def index(self, pts: int) -> int:
        """The index of the frame shown at `pts` (the last one starting at or before it)."""
        step: int = self._step  # type: ignore[attr-defined]  # set in __post_init__
        if step:
            at, off = divmod(pts - int(self.pts[0]), step)
            if off == 0 and 0 <= at < len(self.pts):
                return at
        return max(int(np.searchsorted(self.pts, pts, side="right")) - 1, 0)

    def seek_point(self, index: int) -> int | None:
        """The pts of the last keyframe shown at or before frame `index`: decoding from there
        reaches frame `index` with every reference it needs (an open GOP's leading frames, shown
        before their keyframe, are decoded from the keyframe before); None: the start. Seeking
        goes by this pts: mp4's seek index is in presentation time (by its decode time, the seek
        lands a keyframe early), and a container indexed by decode time lands on the keyframe too,
        its pts being at or after its dts."""
        at = int(np.searchsorted(self.keys, self.pts[index], side="right")) - 1
        return int(self.keys[at]) if at > 0 else None

    def durations(self) -> np.ndarray:
        """Each frame's duration (the last one's: the one before it), for torchcodec's mapping."""
        gaps = np.diff(self.pts)
        return np.append(gaps, gaps[-1] if len(gaps) else 1)


class FrameCount(int):
    """A video's length in frames that can also say when each frame is shown: `times()`, seconds
    from the first frame, one per frame index (None where the file has no timestamps). Read only
    when a time-based sampler asks (data.sampling=fps); every other sampler sees a plain int."""

    _times: Callable[[], np.ndarray | None] | None

    def __new__(cls, count: int, times: Callable[[], np.ndarray | None] | None = None):
        obj = super().__new__(cls, count)
        obj._times = times
        return obj

    def times(self) -> np.ndarray | None:
        times = None if self._times is None else self._times()
        return None if times is None else np.asarray(times, np.float64)


def seconds(timeline: "Timeline") -> np.ndarray:
    """Each frame's presentation time in seconds from the first frame."""
    return (timeline.pts - timeline.pts[0]).astype(np.float64) * timeline.time_base


# Timelines of the files read last, per process, up to this many frames in all (8 bytes each): a
# long video read window after window (features, sliding windows) is scanned once, not per window.
CACHE_FRAMES = 2_000_000
_cache: OrderedDict[tuple, Timeline | None] = OrderedDict()
_cached_frames = [0]


def cached_scan(path: str, container, stream) -> Timeline | None:
    """`scan`, from the cache while the file is unchanged (then the container is not read)."""
    info = os.stat(path)
    key = (path, stream.index, info.st_size, info.st_mtime_ns)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    timeline = scan(container, stream)
    _cache[key] = timeline
    _cached_frames[0] += len(timeline) if timeline is not None else 1
    while _cached_frames[0] > CACHE_FRAMES and len(_cache) > 1:
        _, dropped = _cache.popitem(last=False)
        _cached_frames[0] -= len(dropped) if dropped is not None else 1
    return timeline


def scan(container, stream) -> Timeline | None:
    """The stream's timeline from its packets (the container is left at its end: seek before
    decoding), or None when some packet carries no pts (then frames are counted as decoded)."""
    pts, keys = [], []
    for packet in container.demux(stream):
        if not packet.size:  # the flush packet at the end
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    if not pts:
        return None
    return Timeline(
        np.unique(np.asarray(pts, np.int64)), np.unique(np.asarray(keys, np.int64)), float(stream.time_base)
    )
