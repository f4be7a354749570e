"""One video re-encoded for random access (the unit of `prepare_dataset.py --reencode`): the x264
settings, checked up front, the output size, and a limit on how long a source may stall."""

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from videomae.data.video import short_side_size
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
TUNES = ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency")


class UnreadableVideo(Exception):
    """The source cannot be opened or decoded (the run goes on without it). Not an OSError: an
    OSError out of `reencode_video` is one of writing the copy, which stops the run."""


class SourceStalled(UnreadableVideo):
    """The source gave no frame for the time allowed (`with_stall_limit`)."""


@dataclass(frozen=True)
class EncodeSettings:
    """libx264 settings of the copy; the defaults are the measured choice (docs/benchmarks.md)."""

    short_side: int = 320
    # A 16 x 4 window (64 frames) then holds at most one keyframe (the costliest frames to decode)
    # and starts on average 32 frames after one, only 8 of them P-frames to decode on the way:
    # measured the fastest to decode and half the size of keyint 32 (docs/benchmarks.md).
    keyint: int = 64
    bframes: int = 3  # non-reference B-frames (no pyramid): the PyAV backend skips unwanted ones
    tune: str | None = "fastdecode"  # no CABAC, no deblocking: decoding is about twice as fast
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self):
        # Checked here, before anything is written: x264 would only refuse them at the first video,
        # once per video, and the run would report every video as unreadable.
        for flag, value, low, high in (
            ("--short-side", self.short_side, 2, None),
            ("--keyint", self.keyint, 1, None),
            ("--bframes", self.bframes, 0, 16),
            ("--crf", self.crf, 0, 51),
        ):
            if not isinstance(value, int) or value < low or (high is not None and value > high):
                allowed = (
                    f"an integer from {low} to {high}" if high is not None else f"an integer of {low} or more"
                )
                raise ConfigError(f"{flag} {value!r} is not allowed: {allowed}")
        if self.preset not in PRESETS:
            raise ConfigError(f"--preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if self.tune is not None and not all(part in TUNES for part in self.tune.split(",")):
            raise ConfigError(
                f"--tune {self.tune!r} is not one of {', '.join(TUNES)} "
                "(or several joined by commas, or none)"
            )

    def x264_options(self) -> dict[str, str]:
        params = f"keyint={self.keyint}:min-keyint={self.keyint}:scenecut=0:bframes={self.bframes}"
        options = {"preset": self.preset, "crf": str(self.crf), "x264-params": params + ":b-pyramid=none"}
        if self.tune:
            options["tune"] = self.tune
        return options


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side brought down to `short_side` (never up), both even
    (yuv420p needs that); the long side rounds as the loader's `original` mode does."""
    if min(height, width) > short_side:
        height, width = short_side_size(height, width, short_side, "original")
    return height - height % 2, width - width % 2


def _decoded(source, stream) -> Iterator:
    """The source's frames; any failure to read them is UnreadableVideo."""
    frames = source.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except Exception as err:
            raise UnreadableVideo(_first_line(err)) from None
        yield frame


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


def reencode_video(
    src: str, dst: str, settings: EncodeSettings, threads: int = 0, tick: Callable[[], None] | None = None
) -> None:
    """Re-encode one video (every frame, in order) to `dst`, atomically. A source that cannot be
    read raises UnreadableVideo; a failure to write `dst` raises OSError (DiskFullError when the
    disk is full). `threads`: decoder and encoder threads (0: FFmpeg's choice; 1 when processes
    run in parallel). `tick` is called at every frame and before the file is renamed into place
    (it raises to stop the encoding: see `with_stall_limit`)."""
    import av

    tick = tick or (lambda: None)
    try:
        source = av.open(src)
    except Exception as err:
        raise UnreadableVideo(_first_line(err)) from None
    with source:
        if not source.streams.video:
            raise UnreadableVideo("no video stream")
        stream = source.streams.best("video")
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        height, width = output_size(
            stream.codec_context.height, stream.codec_context.width, settings.short_side
        )
        with atomic_path(dst) as tmp, av.open(tmp, "w", format="mp4") as out:
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {**settings.x264_options(), "threads": str(threads)}
            count = 0
            for frame in _decoded(source, stream):
                tick()
                if count == 0 and frame.rotation:  # a phone video's display rotation stays
                    video.set_display_rotation(frame.rotation)
                try:
                    frame = frame.reformat(width, height, format="yuv420p", interpolation="AREA")
                except Exception as err:
                    raise UnreadableVideo(_first_line(err)) from None
                frame.pts, frame.time_base = count, Fraction(1) / Fraction(rate)
                out.mux(video.encode(frame))
                count += 1
            out.mux(video.encode())
            if count == 0:
                raise UnreadableVideo("no frames decoded")
            tick()  # a run that gave up on this video must not rename it into place now


class _Stopped(BaseException):
    """Raised at the next frame of an encoding its caller gave up on (a BaseException: nothing on
    the way catches it)."""


def with_stall_limit(work: Callable[[Callable[[], None]], Any], limit: float | None) -> Any:
    """`work(tick)` on a daemon thread, given up with SourceStalled once `limit` seconds pass
    without a `tick()` (a source that blocks: a network file system that hangs, a device). A
    thread stuck inside FFmpeg cannot be killed: it is abandoned, and stops at its next tick.
    No limit (None or 0): `work` runs here."""
    if not limit:
        return work(lambda: None)
    last = [time.monotonic()]
    gave_up = threading.Event()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def tick() -> None:
        if gave_up.is_set():
            raise _Stopped
        last[0] = time.monotonic()

    def run() -> None:
        try:
            outcome["value"] = work(tick)
        except BaseException as err:  # handed to the caller, whatever it is
            outcome["error"] = err
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    while not done.wait(min(1.0, limit)):
        if time.monotonic() - last[0] > limit:
            gave_up.set()
            raise SourceStalled(f"no frame from the source for {limit:g} s (--video-timeout)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
