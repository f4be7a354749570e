"""Frame i is the i-th frame in presentation order for every backend (videomae.data.decoders:
timeline.py, selftest.py), on real encodings whose pixels spell each frame's index: variable
frame rate mp4, open-GOP H.264 with B-frames, MPEG-4 Part 2 with B-frames in AVI; late windows
too. Also: reduced-size frames and rotated phone video are the same from every backend."""

import os
import subprocess
import sys

import av
import numpy as np
import pytest
from helpers import BACKENDS, REPO, clip_frames, encode

from videomae.data import decoders
from videomae.data.decoders import selftest
from videomae.data.decoders.selftest import frame_index, write_indexed, write_kind
from videomae.data.video import VideoDecoder

N = 200
EARLY, LATE = list(range(0, 64, 4)), list(range(N - 66, N - 2, 4))  # 16 x 4 windows
WINDOWS = [EARLY, LATE, [55, 60, 119, 150], list(range(170, 186)), [1, 2, 3, N - 2]]
EXACT = [b for b in BACKENDS if b.values[0] != "decord"]  # decord: see test_decord_is_flagged


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("indexed")
    names = {kind: f"{kind}.{'avi' if kind == 'avi' else 'mp4'}" for kind in selftest.KINDS}
    return {kind: write_kind(str(folder / name), kind, N, 32) for kind, name in names.items()}


def indices(frames: np.ndarray) -> list[int]:
    return [frame_index(f) for f in frames]


def test_the_clips_spell_their_indices_in_presentation_order(indexed):
    for kind, path in indexed.items():
        with av.open(path) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert indices(frames) == list(range(N)), kind


@pytest.mark.parametrize("kind", list(selftest.KINDS))
@pytest.mark.parametrize("backend", EXACT)
def test_every_backend_returns_exactly_the_frames_asked_for(indexed, backend, kind):
    decoder = VideoDecoder(backend=backend, timeout=None)
    for short_side in (None, 32):
        for window in WINDOWS:
            frames = decoder.read(indexed[kind], lambda n, w=window: np.array(w), short_side)
            assert indices(frames) == window, (kind, short_side)
    # the length is the count of frames, whatever the frame rate
    assert indices(decoder.read(indexed[kind], lambda n: np.array([n - 2]))) == [N - 2]


@pytest.mark.parametrize("backend", EXACT)
def test_the_last_frame_is_given_or_held(indexed, backend):
    """PyAV gives the last frame; torchcodec with FFmpeg 5 does not flush the final B-frames of
    some streams, and then holds the one before, as for a stream shorter than its header says."""
    for kind, path in indexed.items():
        got = indices(VideoDecoder(backend=backend).read(path, lambda n: np.array([n - 3, n - 1])))
        assert got == [N - 3, N - 1] or (backend == "torchcodec" and got[1] >= N - 1 - 4), kind
    assert indices(VideoDecoder(backend="pyav").read(indexed["avi"], lambda n: np.array([n - 1]))) == [N - 1]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.values[0] == "decord"])
def test_decord_is_flagged_and_not_chosen_by_auto(indexed, backend, capsys):
    """decord indexes open-GOP and MPEG-4 B-frame AVI its own way (the original code's frames):
    auto never takes it, and naming it warns at start-up, saying where it differs."""
    window = LATE
    assert indices(VideoDecoder(backend="decord").read(indexed["vfr"], lambda n: np.array(window))) == window
    wrong = indices(VideoDecoder(backend="decord").read(indexed["avi"], lambda n: np.array(window)))
    assert wrong != window  # if decord ever gets this right, the warning below should go
    note = decoders.frame_check("decord")
    assert note is not None and "MPEG-4 Part 2 with B-frames in AVI" in note
    assert decoders.resolve("auto") != "decord"
    capsys.readouterr()
    assert decoders.resolve("decord") == "decord"
    err = capsys.readouterr().err
    assert err.startswith("warning: data.backend=decord does not return frame i as the i-th")
    assert err.count("\n") == 1


def test_auto_takes_the_fastest_backend_that_meets_the_definition():
    assert decoders.AUTO_ORDER[0] == "pyav"  # measured fastest (docs/benchmarks.md)
    assert decoders.frame_check("pyav") is None
    assert decoders.resolve("auto") == "pyav"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["texture", "indexed"])
def test_reduced_size_frames_are_the_same_from_every_backend(tmp_path, indexed, backend, kind):
    """One scaler after decoding, for every backend: equal to PyAV's bit for bit on H.264 (each
    library's own scaler differed by up to 213 grey levels)."""
    if kind == "texture":
        path = encode(str(tmp_path / "t.mp4"), clip_frames(12, width=96, height=80, seed=3), "libx264")
        window = [0, 5, 11]
    else:
        path, window = indexed["vfr"], [0, 60, 61]  # the same frames for decord too
    reference = VideoDecoder(backend="pyav").read(path, lambda n: np.array(window), 40)
    frames = VideoDecoder(backend=backend).read(path, lambda n: np.array(window), 40)
    assert frames.shape == reference.shape and min(frames.shape[1:3]) == 40
    assert np.array_equal(frames, reference)


@pytest.fixture(scope="module")
def rotated(tmp_path_factory) -> str:
    """A phone video: coded 128 x 64 (landscape), shown portrait (display rotation 90 degrees)."""
    path = str(tmp_path_factory.mktemp("rotated") / "phone.mp4")
    return write_indexed(path, 30, "libx264", {"x264-params": "keyint=10:bframes=2"}, block=32, rotation=90)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotated_video_is_shown_upright_by_every_backend(rotated, backend):
    frames = VideoDecoder(backend=backend).read(rotated, lambda n: np.array([0, 7, 29]))
    assert frames.shape == (3, 128, 64, 3)  # as displayed: not squeezed into the coded frame
    # turned counter-clockwise by 90 degrees, as FFmpeg's own tools (and players) show it
    assert indices(np.rot90(frames, -1, axes=(1, 2))) == [0, 7, 29]
    reference = VideoDecoder(backend="pyav").read(rotated, lambda n: np.array([0, 7, 29]))
    assert np.array_equal(frames, reference)
    small = VideoDecoder(backend=backend).read(rotated, lambda n: np.array([7]), short_side=32)
    assert small.shape == (1, 64, 32, 3)


def test_the_reencoded_copy_of_a_rotated_video_reads_like_its_source(rotated, tmp_path):
    from videomae.data.reencode import EncodeSettings, reencode_video

    copy = str(tmp_path / "copy.mp4")
    reencode_video(rotated, copy, EncodeSettings(short_side=48))
    source = VideoDecoder(backend="pyav").read(rotated, lambda n: np.arange(n))
    frames = VideoDecoder(backend="pyav").read(copy, lambda n: np.arange(n))
    assert frames.shape == (30, 96, 48, 3)  # short side 48, portrait as the source shows it
    assert indices(np.rot90(frames, -1, axes=(1, 2))) == indices(np.rot90(source, -1, axes=(1, 2)))


FAIL_FFMPEG_LOAD = """
import torch
load = torch.ops.load_library
def no_ffmpeg(path):  # as on a machine without FFmpeg's shared libraries
    if "libtorchcodec_core" in str(path) or "libtorchcodec_custom_ops" in str(path):
        raise OSError("libavutil.so.57: cannot open shared object file: No such file or directory")
    return load(path)
torch.ops.load_library = no_ffmpeg
import torchcodec.decoders  # imports fine without FFmpeg: only decoding fails
from videomae.data import decoders
from videomae.utils.errors import ConfigError
try:
    decoders.resolve("torchcodec")
except ConfigError as err:
    print(err)
"""


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.values[0] == "torchcodec"])
def test_torchcodec_without_ffmpeg_fails_at_start_up_naming_the_fix(backend):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", FAIL_FFMPEG_LOAD]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout
    assert lines[0].startswith(
        "data.backend=torchcodec: torchcodec cannot decode: FFmpeg's shared libraries do not load"
    )
    assert "apt-get install ffmpeg" in lines[0] and "data.backend=pyav" in lines[0]
    assert decoders.resolve("torchcodec") == "torchcodec"  # here, with FFmpeg, it decodes


def test_a_stream_without_timestamps_is_counted_in_decoding_order(tmp_path):
    """A raw H.264 stream has no pts and cannot seek: PyAV counts frames as the decoder gives them
    (presentation order), from the start."""
    path = write_indexed(str(tmp_path / "raw.h264"), 60, "libx264", {"x264-params": "keyint=12:bframes=3"})
    with av.open(path) as container:
        assert all(p.pts is None for p in container.demux(video=0))
    window = [0, 13, 40, 58]
    assert indices(VideoDecoder(backend="pyav").read(path, lambda n: np.array(window))) == window


def test_a_files_timeline_is_listed_once_while_it_is_unchanged(indexed, tmp_path, monkeypatch):
    """A long video read window after window is not demuxed whole for every window."""
    import shutil

    from videomae.data.decoders import timeline

    scans = []
    scan = timeline.scan
    monkeypatch.setattr(timeline, "scan", lambda c, s: scans.append(1) or scan(c, s))
    path = shutil.copyfile(indexed["vfr"], str(tmp_path / "v.mp4"))
    decoder = VideoDecoder(backend="pyav")
    for window in WINDOWS:
        assert indices(decoder.read(path, lambda n, w=window: np.array(w))) == window
    assert len(scans) == 1
    shutil.copyfile(indexed["open_gop"], path)  # the file changes: listed again
    assert indices(decoder.read(path, lambda n: np.array(LATE))) == LATE
    assert len(scans) == 2


@pytest.mark.parametrize("kind", list(selftest.KINDS))
def test_the_reencoded_copy_keeps_every_frame_index(indexed, tmp_path, kind):
    """The copy (prepare_dataset.py --reencode) of a variable-frame-rate, open-GOP or B-frame AVI
    source: its frame i is the source's frame i (a variable rate becomes the average rate)."""
    from videomae.data.reencode import EncodeSettings, reencode_video

    copy = str(tmp_path / "copy.mp4")
    reencode_video(indexed[kind], copy, EncodeSettings(short_side=64))
    frames = VideoDecoder(backend="pyav").read(copy, lambda n: np.arange(n))
    assert indices(frames) == list(range(N))


MPEG_STREAMS = {  # MPEG program and transport streams (.mpg, .vob, .ts, .mts): no seek index
    "ps.mpg": ("mpeg2video", {"bf": "2", "g": "12"}),
    "ps.vob": ("mpeg2video", {"bf": "2", "g": "15"}),
    "ts.ts": ("libx264", {"x264-params": "keyint=12:bframes=3:open-gop=1"}),
}


@pytest.mark.parametrize("name", list(MPEG_STREAMS))
@pytest.mark.parametrize("backend", EXACT)
def test_frame_i_in_mpeg_program_and_transport_streams(tmp_path, name, backend):
    """After a seek, FFmpeg's MPEG-PS demuxer stamps packets 1.5 frames early (frame i came back as
    i+2) and MPEG-TS can land past the last keyframe (no frame at all): PyAV then decodes from the
    start, where their timestamps are right; torchcodec (wrong in every seek mode there, even
    frame 0) hands such files to PyAV."""
    codec, options = MPEG_STREAMS[name]
    path = write_indexed(str(tmp_path / name), 150, codec, options, block=16)
    for window in ([0, 1, 2], list(range(84, 148, 4)), list(range(110, 140, 2)), [149], [57, 58, 100, 101]):
        frames = VideoDecoder(backend=backend, timeout=None).read(path, lambda n, w=window: np.array(w))
        assert indices(frames) == window, window


BLOCKED_PYAV = """
from videomae.data import decoders
from videomae.utils.errors import ConfigError
for name in ("torchcodec", "auto"):
    try:
        print(name, "->", decoders.resolve(name))
    except ConfigError as err:
        print(name, "->", err)
"""


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.values[0] == "torchcodec"])
def test_without_pyav_torchcodec_fails_at_start_up_and_auto_says_what_it_took(tmp_path, backend):
    """torchcodec's frame list comes from PyAV: without PyAV it passed the start-up check (its
    probe clips could not be written, so only the import was checked) and `auto` took it, then
    every video failed to decode. decord, taken then, warns that its frames differ."""
    (tmp_path / "av").mkdir()
    (tmp_path / "av" / "__init__.py").write_text("raise ImportError('PyAV blocked here')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO, os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", BLOCKED_PYAV], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == (
        "torchcodec -> data.backend=torchcodec: torchcodec reads the frame list through PyAV, which does "
        "not import (PyAV blocked here): pip install av"
    )
    if decoders.module("decord").missing() is None:
        assert lines[1] == "auto -> decord"
        assert out.stderr.count("warning: data.backend=auto uses decord, as no other decoder works here") == 1
    else:
        assert lines[1].startswith("auto -> data.backend=auto: no video decoder works here")


@pytest.mark.parametrize("backend", EXACT)
def test_frame_i_in_avi_of_keyframes_and_b_frames(tmp_path, backend):
    """MPEG-4 AVI of I B B I B B (every anchor a keyframe): a seek to a keyframe's pts lands on
    the next keyframe, decoded before the B-frames shown earlier; torchcodec gave frame i+3."""
    path = write_indexed(str(tmp_path / "ibb.avi"), 60, "mpeg4", {"bf": "2", "g": "3"}, block=16)
    for window in ([0, 1, 2, 3, 4, 5, 6], [5, 6], [30, 31, 32, 33], [50, 55, 57, 59]):
        frames = VideoDecoder(backend=backend).read(path, lambda n, w=window: np.array(w))
        assert indices(frames) == window, window


def test_the_training_entry_point_loads_without_pyav(tmp_path):
    """`auto` falls back to torchcodec or decord where PyAV does not import, but the synthetic
    data module imported PyAV at load, so scripts/pretrain.py died at its imports first."""
    (tmp_path / "av").mkdir()
    (tmp_path / "av" / "__init__.py").write_text("raise ImportError('PyAV blocked here')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO, os.environ.get("PYTHONPATH", "")]),
    }
    code = "import videomae.training.pretrain, videomae.training.finetune; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
