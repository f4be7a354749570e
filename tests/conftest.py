"""Shared fixtures: tiny generated videos, written once per session, and broken files. The
helpers they use, and that tests import, are in helpers.py."""

import pytest
from helpers import TINY_SYNTHETIC, garbage_bytes, write_clip

from videomae.data.synthetic import ensure_synthetic


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("synthetic"))
    ensure_synthetic(root, TINY_SYNTHETIC)
    return root


@pytest.fixture(scope="session")
def video_bank(tmp_path_factory) -> dict[str, str]:
    """Source videos, generated once: mp4 (12 and 5 frames), avi, webm, and each kind of broken
    file (zero-byte, truncated, garbage bytes, a text file named .mp4)."""
    d = tmp_path_factory.mktemp("video_bank")
    bank = {
        "mp4": write_clip(str(d / "a.mp4"), seed=1),
        "mp4_b": write_clip(str(d / "b.mp4"), seed=2, width=96),
        "short": write_clip(str(d / "short.mp4"), num_frames=5, seed=3),
        "avi": write_clip(str(d / "c.avi"), seed=4),
        "webm": write_clip(str(d / "d.webm"), seed=5),
    }
    data = open(bank["mp4"], "rb").read()
    broken = {
        "zero_byte": b"",
        "truncated": data[: len(data) * 2 // 5],
        "garbage": garbage_bytes(4000),
        "text": b"this is a text file, not a video\n" * 20,
    }
    for name, content in broken.items():
        path = d / f"{name}.mp4"
        path.write_bytes(content)
        bank[name] = str(path)
    return bank
