"""Decoder backends behind `VideoDecoder` (videomae.data.video), one module per library.

Each backend module has `missing() -> str | None` (why it cannot be used here, naming the fix,
or None) and `read(path, known, target, pick) -> (frames, native)`:

- `known`: the video's (height, width) from an earlier visit, or None;
- `target(height, width)`: the reduced (height, width) to decode at, or None for native size;
- `pick(num_frames)`: the sorted, unique frame indices to return (it validates them);
- `frames`: uint8 (len(picked), H, W, 3), in the picked order; `native`: (height, width).

`data.backend=auto` takes the first of AUTO_ORDER that works here: decord (the design card's
decoder, where it has a wheel), then PyAV (always installed; it bundles FFmpeg), then torchcodec
(needs FFmpeg's shared libraries from the system).
"""

import importlib
from types import ModuleType

from videomae.errors import ConfigError

BACKENDS = ("decord", "pyav", "torchcodec")
AUTO_ORDER = BACKENDS
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


def resolve(name: str) -> str:
    """The backend `name` stands for here (auto: the first usable one), checked to work now, so
    that a missing library fails at start-up with the fix, not inside a loader worker."""
    if name == "auto":
        reasons = []
        for candidate in AUTO_ORDER:
            reason = module(candidate).missing()
            if reason is None:
                return candidate
            reasons.append(f"{candidate}: {reason}")
        raise ConfigError("data.backend=auto: no video decoder works here; " + "; ".join(reasons))
    reason = module(name).missing()
    if reason is not None:
        raise ConfigError(f"data.backend={name}: {reason}")
    return name
