"""Shared fixtures: tiny generated videos (written once per session) and broken files."""

import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest

from videomae.data.synthetic import SyntheticSpec, ensure_synthetic, write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny model and tiny clips: enough to run every code path in seconds on 2 CPU cores.
TINY_MODEL = dict(
    embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2
)
TINY_SYNTHETIC = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, num_frames=16, size=64)


def tiny_overrides(data_root: str) -> list[str]:
    """Overrides that make `scripts/pretrain.py` run the demo pipeline at toy size."""
    spec = TINY_SYNTHETIC
    return [
        *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
        f"data.root={data_root}",
        "data.num_frames=4",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"data.synthetic.num_train_per_class={spec.num_train_per_class}",
        f"data.synthetic.num_val_per_class={spec.num_val_per_class}",
        f"data.synthetic.num_frames={spec.num_frames}",
        f"data.synthetic.size={spec.size}",
    ]


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("synthetic"))
    ensure_synthetic(root, TINY_SYNTHETIC)
    return root


def run_script(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a repository script in a fresh process, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# Tiny model and clip for end-to-end runs of the real entrypoints.
TINY = [
    "model=vit_tiny",
    "model.depth=1",
    "model.embed_dim=32",
    "model.num_heads=2",
    "model.decoder_embed_dim=32",
    "model.decoder_num_heads=2",
    "model.decoder_depth=1",
    "data.num_frames=4",
    "data.input_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.pin_memory=false",
    "logger=none",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.max_steps=2",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "checkpoint.every_n_epochs=1000",
]


def clip_frames(num_frames: int = 12, width: int = 80, height: int = 64, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a fixed texture whose brightness steps with the frame index (frame t has
    mean about 40 + 12 t), so tests can tell frames apart after compression."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 40, (height, width, 3))
    return np.stack([np.clip(texture + 40 + 12 * t, 0, 255) for t in range(num_frames)]).astype(np.uint8)


def write_clip(path: str, num_frames: int = 12, width: int = 80, height: int = 64, seed: int = 0) -> str:
    """A small video; the container and codec follow the extension (.mp4/.mkv: H.264, .avi: MPEG-4
    part 2, .webm: VP9)."""
    frames = clip_frames(num_frames, width, height, seed)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".mp4", ".mkv"):
        write_video(path, frames, fps=10)
        return path
    codec = {".avi": "mpeg4", ".webm": "libvpx-vp9"}[ext]
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


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
        "garbage": np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "text": b"this is a text file, not a video\n" * 20,
    }
    for name, content in broken.items():
        path = d / f"{name}.mp4"
        path.write_bytes(content)
        bank[name] = str(path)
    return bank


BROKEN_KINDS = ("zero_byte", "truncated", "garbage", "text", "missing")


def _backend_param(name: str):
    from videomae.data.decoders import module

    reason = module(name).missing()
    return pytest.param(name, marks=pytest.mark.skipif(reason is not None, reason=f"{name}: {reason}"))


# Every decoder backend, each skipped (saying why) where it cannot run: decord without a wheel,
# torchcodec without FFmpeg's shared libraries.
BACKENDS = [_backend_param(name) for name in ("decord", "pyav", "torchcodec")]


def place(bank: dict[str, str], kind: str, dest: str) -> str:
    """Put a bank video (or a broken file; `missing`: nothing) at `dest`."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if kind != "missing":
        shutil.copyfile(bank[kind], dest)
    return dest
