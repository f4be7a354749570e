"""Decoder backends (videomae.data.decoders): the same frames, the same errors, chosen by config."""

import pickle

import av
import numpy as np
import pytest
from helpers import BACKENDS, REPO, clip_frames, encode, place

from videomae.data import decoders
from videomae.data.config import DataConfig
from videomae.data.datamodule import create_datamodule
from videomae.data.decoders import pyav as pyav_backend
from videomae.data.decoders import torchcodec as torchcodec_backend
from videomae.data.video import VideoDecoder
from videomae.utils.errors import ConfigError


def write_with_b_frames(path: str, num_frames: int = 40) -> str:
    """H.264 with non-reference B-frames (the kind the PyAV backend skips when not wanted) and a
    keyframe every 8 frames (so that a late window starts with a seek)."""
    options = {"x264-params": "keyint=8:min-keyint=8:scenecut=0:bframes=3:b-pyramid=none"}
    return encode(path, clip_frames(num_frames, seed=7), "libx264", options)


def every_frame(path: str) -> np.ndarray:
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["mp4", "avi", "webm", "short"])
def test_every_backend_returns_decords_frames(video_bank, backend, kind):
    choose = lambda n: np.array([n - 1, 0, 3, 3, n // 2])  # noqa: E731
    reference = VideoDecoder(backend="pyav").read(video_bank[kind], choose)
    frames = VideoDecoder(backend=backend).read(video_bank[kind], choose)
    assert frames.shape == reference.shape
    # H.264 decoding is bit-exact by the standard; the RGB conversion may round differently
    assert np.abs(frames.astype(int) - reference).max() <= (0 if kind in ("mp4", "short") else 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_over_b_frames_and_keyframes_are_exact(tmp_path, backend):
    path = write_with_b_frames(str(tmp_path / "b.mp4"))
    full = every_frame(path)
    decoder = VideoDecoder(backend=backend)
    for window in ([1, 5, 9, 13], [22, 26, 30, 34], [38, 39], [0, 7, 8, 9]):
        frames = decoder.read(path, lambda n, w=window: np.array(w))
        assert np.array_equal(frames, full[window]), window


def test_pyav_skips_unwanted_non_reference_frames(tmp_path, monkeypatch):
    path = write_with_b_frames(str(tmp_path / "b.mp4"))
    full = every_frame(path)
    decoded, converted = [], []
    decode, to_ndarray = av.packet.Packet.decode, av.VideoFrame.to_ndarray
    counted = lambda self: (frames := decode(self), decoded.extend(frames))[0]  # noqa: E731
    monkeypatch.setattr(av.packet.Packet, "decode", counted)
    monkeypatch.setattr(
        av.VideoFrame, "to_ndarray", lambda self, **kw: converted.append(1) or to_ndarray(self, **kw)
    )
    frames = VideoDecoder(backend="pyav", timeout=None).read(path, lambda n: np.array([1, 5, 9, 13]))
    assert np.array_equal(frames, full[[1, 5, 9, 13]])
    # I P B B B P B B ...: of frames 0-13 the unwanted B-frames are not decoded, and it stops at 13
    assert len(decoded) < 12 and len(converted) == 4


def test_backend_is_a_checked_setting(video_bank, tmp_path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from videomae.training.configs import build_configs

    def compose(name: str, *overrides: str):
        with initialize_config_dir(config_dir=f"{REPO}/configs", version_base="1.3"):
            return hydra_compose(name, overrides=list(overrides))

    with pytest.raises(ConfigError) as err:
        build_configs(compose("pretrain", "data.backend=ffmpeg"), "pretrain")
    assert (
        str(err.value) == "data.backend=ffmpeg is not allowed; allowed: one of auto, decord, pyav, torchcodec"
    )
    build_configs(compose("finetune", "data.backend=pyav"), "finetune")
    with pytest.raises(ConfigError, match="data.backend='ffmpeg' is not one of auto, decord"):
        VideoDecoder(backend="ffmpeg")
    place(video_bank, "mp4", str(tmp_path / "a" / "v.mp4"))
    dm = create_datamodule(
        DataConfig("folder", str(tmp_path), num_frames=4, input_size=32, num_workers=0, backend="pyav")
    )
    dm.setup("fit")
    assert dm.train_set.decoder.backend == "pyav"
    assert pickle.loads(pickle.dumps(dm.train_set.decoder)).backend_name == "pyav"


def test_auto_falls_back_in_order(monkeypatch):
    from videomae.data.decoders import decord as decord_backend

    assert decoders.AUTO_ORDER == ("pyav", "torchcodec", "decord")
    assert decoders.resolve("auto") == "pyav"
    monkeypatch.setattr(pyav_backend, "missing", lambda: "not installed")
    if torchcodec_backend.missing() is None:
        assert decoders.resolve("auto") == "torchcodec"
        assert VideoDecoder(backend="auto").backend_name == "torchcodec"
    monkeypatch.setattr(torchcodec_backend, "missing", lambda: "no FFmpeg")
    monkeypatch.setattr(decoders, "frame_check", lambda name: None)  # as if decord met the definition
    monkeypatch.setattr(decord_backend, "missing", lambda: "no wheel here")
    with pytest.raises(ConfigError, match="no video decoder works here; pyav: not installed; torchcodec"):
        decoders.resolve("auto")


def test_torchcodec_without_ffmpeg_says_how_to_fix_it(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ffmpeg(name, *args, **kwargs):
        if name.startswith("torchcodec"):
            raise RuntimeError("Could not load libtorchcodec. Likely causes: FFmpeg is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ffmpeg)
    with pytest.raises(ConfigError) as err:
        decoders.resolve("torchcodec")
    message = str(err.value)
    assert message.startswith("data.backend=torchcodec: torchcodec cannot load FFmpeg's shared libraries")
    assert "apt-get install ffmpeg" in message and "data.backend=pyav" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="data.backend=torchcodec: torchcodec cannot load"):
        create_datamodule(DataConfig("folder", str(tmp_path), backend="torchcodec"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_damage_inside_a_video_gives_frames_or_a_read_error(tmp_path, backend):
    from videomae.data.video import VideoReadError

    path = write_with_b_frames(str(tmp_path / "b.mp4"))
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(200)  # a stretch of the stream zeroed, the container intact
    open(path, "wb").write(bytes(data))
    try:
        frames = VideoDecoder(backend=backend, timeout=10).read(path, lambda n: np.arange(0, n, 3))
    except VideoReadError as err:
        assert str(err).startswith(f"{path}: ")
    else:
        assert frames.shape == (14, 64, 80, 3)
