"""PyAV: FFmpeg in the wheel, so it works on every platform, and the fastest backend here.

Frame i is the i-th in presentation order (decoders/timeline.py); what makes it fast, none of it
changing a pixel (the frames equal torchcodec's and, on ordinary files, decord's):
- one seek to the keyframe before the first frame wanted, then forward decoding that stops at the
  last frame wanted (decord also decodes forward, but pays more per frame);
- frames nobody references and nobody wants are not decoded at all (FFmpeg's `skip_frame=NONREF`
  per packet): with B-frames, about every other frame of a 16 x 4 window is skipped;
- only the frames wanted are converted to RGB.
"""

import numpy as np

from videomae.data.decoders.reader import Reader
from videomae.data.decoders.resize import upright
from videomae.data.decoders.timeline import TAIL_SLACK, Timeline, cached_scan, seconds


def missing() -> str | None:
    try:
        import av  # noqa: F401
    except ImportError:
        return "PyAV is not installed: pip install av"
    return None


def _frames(packet, errors: list[str]):
    """The packet's frames; a corrupt packet gives none (as FFmpeg's own tools carry on), and the
    run fails only when a frame wanted never arrives."""
    import av

    try:
        return packet.decode()
    except av.error.InvalidDataError as err:
        errors.append(str(err))
        return ()


def _decode(
    container, stream, order: np.ndarray, timeline: Timeline | None, seek: bool, fmt: str = "rgb24"
) -> tuple[np.ndarray, float] | None:
    """The native-size frames of `order` and their display rotation, or None when the seek cannot
    serve them (the first frame after the keyframe is already past the first one wanted, or
    frames without pts). Without a timeline (packets without pts) frames are counted as they
    leave the decoder, which is presentation order."""
    codec = stream.codec_context
    wanted = set(order.tolist())
    start = timeline.seek_point(int(order[0])) if seek and timeline is not None else None
    if start is not None:
        container.seek(start, stream=stream, backward=True)
    out: np.ndarray | None = None
    errors: list[str] = []
    pos, prev, count, at = 0, None, -1, -1
    for packet in container.demux(stream):
        skip = timeline is not None and packet.pts is not None and timeline.index(packet.pts) not in wanted
        codec.skip_frame = "NONREF" if skip else "DEFAULT"
        for frame in _frames(packet, errors):
            count += 1
            if start is not None:
                if frame.pts is None:
                    return None
                if frame.pts < start:
                    continue  # an open GOP's leading frame: its references lie before the seek point
            at = timeline.index(frame.pts) if timeline is not None and frame.pts is not None else count
            if start is not None and timeline is not None and timeline.pts[at] != frame.pts:
                return None  # a pts the file does not hold: MPEG-PS stamps packets wrongly after a seek
            if start is not None and prev is None and at > order[0]:
                return None
            if out is None:
                out = np.empty((len(order), frame.height, frame.width, 4 if fmt == "rgba" else 3), np.uint8)
            while pos < len(order) and order[pos] < at:  # no frame shown at that index: hold
                out[pos] = (prev if prev is not None else frame).to_ndarray(format=fmt)
                pos += 1
            if pos < len(order) and order[pos] == at:
                out[pos] = frame.to_ndarray(format=fmt)
                pos += 1
            prev = frame
        if pos == len(order) and out is not None and prev is not None:
            return out, prev.rotation
    if prev is None or out is None or order[-1] - at > TAIL_SLACK:
        if start is not None:  # MPEG-TS can seek past its last keyframe: try from the start
            return None
        why = f" ({errors[0]})" if errors else ""
        raise ValueError(f"the stream ends before frame {int(order[pos])}{why}")
    out[pos:] = prev.to_ndarray(format=fmt)
    return out, prev.rotation


def _open(path: str):
    import av

    container = av.open(path)
    if not container.streams.video:
        container.close()
        raise ValueError("no video stream")
    stream = container.streams.best("video")  # as decord picks it (not a cover picture)
    stream.codec_context.thread_count = 1  # one core per loader worker, as decord is run
    return container, stream


def _from_start(path: str, container, stream):
    """(container, stream) at the first packet again: a seek, or where the stream cannot seek (a
    raw H.264 stream), a fresh open."""
    import av

    try:
        container.seek(0, backward=True)
        return container, stream
    except av.error.FFmpegError:
        container.close()
        return _open(path)


class PyAVReader(Reader):
    """`fmt`: rgb24, or rgba (with the video's alpha plane; opaque where it has none)."""

    def __init__(self, path: str, fmt: str = "rgb24"):
        self._path, self._fmt = path, fmt
        self._container, self._stream = _open(path)
        try:
            if min(self._stream.codec_context.height, self._stream.codec_context.width) <= 0:
                raise ValueError("no frame size in the header")
            self.timeline = cached_scan(path, self._container, self._stream)
            if self.timeline is None:  # packets without pts: count them; frames are counted as decoded
                self._rewind()
                self._count = sum(1 for p in self._container.demux(self._stream) if p.size)
            else:
                self._count = len(self.timeline)
        except BaseException:
            self.close()
            raise

    def _rewind(self) -> None:
        self._container, self._stream = _from_start(self._path, self._container, self._stream)

    def __len__(self) -> int:
        return self._count

    def times(self) -> np.ndarray | None:
        return None if self.timeline is None else seconds(self.timeline)

    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        """Upright (a phone video's height and width swap, as displayed)."""
        timeline, decoded = self.timeline, None
        if timeline is not None and timeline.seek_point(int(indices[0])) is not None:
            decoded = _decode(self._container, self._stream, indices, timeline, True, self._fmt)
        if decoded is None:  # the first GOP, or a seek that could not serve the first index
            self._rewind()
            decoded = _decode(self._container, self._stream, indices, timeline, False, self._fmt)
        assert decoded is not None  # without a seek, _decode returns the frames or raises
        return upright(*decoded)

    def close(self) -> None:
        self._container.close()


def open_video(path: str, fmt: str = "rgb24") -> PyAVReader:
    return PyAVReader(path, fmt)
