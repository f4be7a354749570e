"""Start-up checks that a backend really decodes, and decodes frame i as defined (the i-th in
presentation order, decoders/timeline.py), on tiny clips written here whose pixels encode their
frame index: the encodings where backends were found to disagree.

- variable frame rate mp4 (irregular timestamps, as phones record);
- open-GOP H.264 with B-frames (frames shown before their keyframe);
- MPEG-4 Part 2 with B-frames in AVI (the UCF101 / HMDB51 container and codec).

About 0.1 s per backend, once per process.
"""

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from fractions import Fraction

import numpy as np

BITS = 8  # frame indices 0..255
BLOCK = 16  # px per bit: 2 rows of 4 blocks, black or white, survive any codec


def index_frame(index: int, block: int = BLOCK) -> np.ndarray:
    """(2 block, 4 block, 3) uint8 whose blocks spell `index` in binary (bit b: row b // 4,
    column b % 4; white = 1)."""
    image = np.zeros((2 * block, 4 * block, 3), np.uint8)
    for bit in range(BITS):
        if (index >> bit) & 1:
            row, col = divmod(bit, 4)
            image[row * block : (row + 1) * block, col * block : (col + 1) * block] = 255
    return image


def frame_index(image: np.ndarray) -> int:
    """The index `index_frame` wrote, read from the middle of each block (at any frame size)."""
    height, width = image.shape[:2]
    value = 0
    for bit in range(BITS):
        row, col = divmod(bit, 4)
        top, left, h, w = row * height // 2, col * width // 4, height // 2, width // 4
        if image[top + h // 4 : top + 3 * h // 4, left + w // 4 : left + 3 * w // 4].mean() > 127:
            value |= 1 << bit
    return value


def write_indexed(
    path: str, num_frames: int, codec: str, options: dict, pts=None, block: int = BLOCK, rotation: int = 0
) -> str:
    """A clip of `num_frames` index-coded frames (`pts`: each frame's timestamp in ms, for a
    variable frame rate, else 25 fps; `rotation`: display rotation in degrees counter-clockwise,
    as a phone records portrait video)."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 4 * block, 2 * block, "yuv420p"
        if pts is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, block), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = int(pts[i]), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def vfr_pts(num_frames: int, seed: int = 0) -> np.ndarray:
    """Irregular frame timestamps in ms (gaps of 17 to 100 ms)."""
    gaps = np.random.default_rng(seed).choice([17, 20, 33, 40, 100], size=num_frames)
    return np.concatenate([[0], np.cumsum(gaps)[:-1]])


def write_kind(path: str, kind: str, num_frames: int, block: int = BLOCK) -> str:
    """An index-coded clip of one of KINDS (`path`'s extension must suit: .mp4, or .avi for avi)."""
    if kind == "vfr":
        params = "keyint=12:min-keyint=12:scenecut=0:bframes=2"
        return write_indexed(path, num_frames, "libx264", {"x264-params": params}, vfr_pts(num_frames), block)
    if kind == "open_gop":
        params = "keyint=12:min-keyint=12:scenecut=0:open-gop=1:bframes=3:b-pyramid=normal"
        return write_indexed(path, num_frames, "libx264", {"x264-params": params}, block=block)
    if kind == "avi":
        return write_indexed(path, num_frames, "mpeg4", {"bf": "2", "g": "12"}, block=block)
    raise ValueError(kind)


KINDS = {
    "vfr": "variable frame rate mp4",
    "open_gop": "open-GOP H.264 with B-frames",
    "avi": "MPEG-4 Part 2 with B-frames in AVI",
}
FRAMES = 40
# late, past several keyframes; not the last frame, which torchcodec with FFmpeg 5 may not give
# (its final B-frames are not flushed): that is held, as a short stream is (timeline.TAIL_SLACK)
WINDOW = np.array([21, 25, 29, 33, 37, 38])


def _remove(folder: str, owner: int) -> None:
    """Forked loader workers share the folder; the process that made it removes it."""
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def clips() -> dict[str, str]:
    """The check clips, written once per process into a temporary folder."""
    folder = tempfile.mkdtemp(prefix="videomae-decoder-check-")
    atexit.register(_remove, folder, os.getpid())
    return {
        kind: write_kind(os.path.join(folder, f"{kind}.{'avi' if kind == 'avi' else 'mp4'}"), kind, FRAMES)
        for kind in KINDS
    }


def frame_check(open_video: Callable) -> str | None:
    """None when a backend's reader (decoders/*.py `open_video`) returns exactly the frames asked for
    on every check clip; else what it returned instead, in one line."""
    try:
        paths = clips()
    except Exception:  # an FFmpeg build without these encoders: nothing to check against
        return None
    wrong = []
    for kind, path in paths.items():
        try:
            with open_video(path) as reader:
                got = [frame_index(f) for f in reader.frames_at(WINDOW)]
        except Exception as err:
            wrong.append(f"{KINDS[kind]}: {type(err).__name__}")
            continue
        misses = [f"{g} for {w}" for w, g in zip(WINDOW.tolist(), got, strict=True) if g != w]
        if misses:
            wrong.append(f"{KINDS[kind]}: frame {', '.join(misses)}")
    return "; ".join(wrong) or None
