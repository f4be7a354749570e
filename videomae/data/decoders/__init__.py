"""Decoder backends behind `VideoDecoder` (videomae.data.video), one module per library.

Each backend module has `missing() -> str | None` (why it cannot be used here, naming the fix,
or None) and `open_video(path) -> Reader` (decoders/reader.py): the opened video, asked for its
length, its frame times and its frames at indices or at times, as decord's `VideoReader` and
torchcodec's `VideoDecoder` are. Frames come at the size displayed; `VideoDecoder`
(videomae.data.video) chooses the indices, scales and reorders.

Frame i is the i-th frame in presentation order, for every backend (decoders/timeline.py).
`data.backend=auto` takes the first of AUTO_ORDER that decodes here and passes the frame check
(decoders/selftest.py): PyAV (always installed; it bundles FFmpeg; the fastest measured,
docs/benchmarks.md), then torchcodec (needs FFmpeg's shared libraries from the system), then
decord, which picks other frames on open-GOP H.264 and MPEG-4 B-frame AVI (its own index, as the
original code used it) and so is taken only when asked for by name, with a warning.
"""

import functools
import importlib
import sys
from types import ModuleType

from videomae.data.decoders import selftest
from videomae.utils.errors import ConfigError

BACKENDS = ("decord", "pyav", "torchcodec")
AUTO_ORDER = ("pyav", "torchcodec", "decord")  # fastest first, by measurement
CHOICES = ("auto", *BACKENDS)


def check_name(name: str) -> str:
    if name not in CHOICES:
        raise ConfigError(f"data.backend={name!r} is not one of {', '.join(CHOICES)}")
    return name


def module(name: str) -> ModuleType:
    """The backend module (imports only our module; the library is imported when it decodes)."""
    if check_name(name) == "auto":
        raise ValueError("resolve 'auto' first")
    return importlib.import_module(f"videomae.data.decoders.{name}")


@functools.cache
def frame_check(name: str) -> str | None:
    """None when backend `name` decodes frame i as the i-th in presentation order on the check
    clips (decoders/selftest.py), else where it does not; once per process."""
    return selftest.frame_check(module(name).open_video)


@functools.cache
def _warn_once(line: str) -> None:
    print(line, file=sys.stderr)


def resolve(name: str, check_frames: bool = True) -> str:
    """The backend `name` stands for here (auto: the first usable one), checked to decode now, so
    that a missing library fails at start-up with the fix, not inside a loader worker.
    `check_frames`: auto passes over a backend whose frames differ from the definition; one named
    explicitly is used, with a warning saying where it differs."""
    if name == "auto":
        reasons: list[str] = []
        for candidate in AUTO_ORDER:
            reason = module(candidate).missing() or (frame_check(candidate) if check_frames else None)
            if reason is None:
                if candidate == "decord":  # its frame check needs PyAV's clips: it may not have run
                    _warn_once(
                        f"warning: data.backend=auto uses decord, as no other decoder works here "
                        f"({'; '.join(reasons)}); decord's frame i is not the i-th in presentation "
                        "order on open-GOP H.264 and MPEG-4 B-frame AVI"
                    )
                return candidate
            reasons.append(f"{candidate}: {reason}")
        raise ConfigError("data.backend=auto: no video decoder works here; " + "; ".join(reasons))
    reason = module(name).missing()
    if reason is not None:
        raise ConfigError(f"data.backend={name}: {reason}")
    differs = frame_check(name) if check_frames else None
    if differs:
        print(
            f"warning: data.backend={name} does not return frame i as the i-th in presentation "
            f"order here ({differs}); data.backend=pyav does",
            file=sys.stderr,
        )
    return name
