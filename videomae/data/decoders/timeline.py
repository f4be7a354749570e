"""What "frame i" means, for every backend: the i-th frame in presentation order, i.e. sorted by
presentation timestamp (pts), whatever the frame rate (variable or not), the GOP structure (open,
B-frames) or the container (mp4, avi, mkv, webm). A video's length is its number of such frames.

`scan` reads it from the container's packets (demuxed, not decoded: about 1 ms for a 10 s video)
through PyAV, which every install has, so all backends index frames from the same list: PyAV
places each decoded frame by its pts in that list; torchcodec is handed the list as its frame
mapping. decord indexes frames itself and differs on some files (see decoders/decord.py).
"""

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
        object.__setattr__(self, "_at", {int(p): i for i, p in enumerate(self.pts.tolist())})

    def __len__(self) -> int:
        return len(self.pts)

    def index(self, pts: int) -> int:
        """The index of the frame shown at `pts` (the last one starting at or before it)."""
        at = self._at.get(pts)  # type: ignore[attr-defined]  # set in __post_init__
        return at if at is not None else max(int(np.searchsorted(self.pts, pts, side="right")) - 1, 0)

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
