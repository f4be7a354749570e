"""The re-encoded training copy (videomae.data.reencode, prepare_dataset.py --reencode)."""

import os

import av
import numpy as np
import pytest
from helpers import BUILDERS, place, run_script

from videomae.data import reencode
from videomae.data.datamodule import VideoDataModule
from videomae.data.layouts import load_index
from videomae.data.prepare import prepare
from videomae.data.reencode import EncodeSettings, reencode_dataset
from videomae.data.video import VideoDecoder

SMALL = EncodeSettings(short_side=32, keyint=4)  # tiny videos: a reduced copy still has frames to keep


def build(name: str, root: str, bank: dict) -> None:
    if name == "folder":
        for split in ("train", "val"):
            for cls in ("a", "b"):
                place(bank, "avi" if cls == "a" else "mp4", os.path.join(root, split, cls, "v.avi"))
    elif name == "list":  # our own lists, as prepare_dataset.py writes them (here with absolute paths)
        build_ucf = BUILDERS["ucf101"]
        build_ucf(root, bank)
        prepare("ucf101", root, out=root, check="exists")
        with open(os.path.join(root, "train.csv")) as f:
            lines = [f"{os.path.join(root, p)} {label}\n" for p, label in (line.split() for line in f)]
        with open(os.path.join(root, "train.csv"), "w") as f:
            f.writelines(lines)
    else:
        BUILDERS[name](root, bank)


def stream_info(path: str) -> tuple[str, int, int, int, int]:
    with av.open(path) as c:
        v = c.streams.video[0]
        return (
            v.codec_context.name,
            v.codec_context.height,
            v.codec_context.width,
            v.frames,
            len(c.streams.audio),
        )


@pytest.mark.parametrize("name", ["ucf101", "hmdb51", "ssv2", "k400", "folder", "list"])
def test_the_copy_reads_as_the_original(tmp_path, video_bank, name):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build(name, src, video_bank)
    dataset = "ucf101" if name == "list" else name
    summary = reencode_dataset(dataset, src, dst, SMALL, workers=1)
    assert summary["failed"] == {} and summary["problems"] == []
    original, copy = load_index(dataset, src), load_index(dataset, dst)
    for split, samples in original.splits.items():
        mapped = [(os.path.splitext(os.path.relpath(p, src))[0], label) for p, label in samples]
        assert [
            (os.path.splitext(os.path.relpath(p, dst))[0], label) for p, label in copy.splits[split]
        ] == mapped
        for (a, _), (b, _) in zip(samples, copy.splits[split], strict=True):
            assert b.startswith(dst) and b.endswith(".mp4")
            codec, height, width, frames, audio = stream_info(b)
            with av.open(a) as c:
                assert frames == sum(1 for _ in c.decode(video=0))  # every frame kept
            assert codec == "h264" and min(height, width) == 32 and audio == 0
    assert original.classes == copy.classes


def test_size_never_upscaled_and_frames_kept(tmp_path, video_bank):
    src, dst = str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")
    place(video_bank, "mp4_b", src)  # 96 x 64
    reencode.reencode_video(src, dst, EncodeSettings())  # short side 320: not upscaled
    assert stream_info(dst)[1:4] == (64, 96, 12)
    assert reencode.output_size(720, 1280, 320) == (320, 568) and reencode.output_size(241, 321, 320) == (
        240,
        320,
    )
    original = VideoDecoder(backend="pyav").read(src, lambda n: np.arange(n))
    copied = VideoDecoder(backend="pyav").read(dst, lambda n: np.arange(n))
    assert np.abs(original.astype(float) - copied).mean() < 4  # the same frames, in order


def test_unreadable_videos_are_reported_and_the_rest_is_copied(tmp_path, video_bank, capsys):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("ucf101", src, video_bank)
    broken = os.path.join(src, "UCF-101", "Basketball", "v_Basketball_g01_c01.avi")
    place(video_bank, "truncated", broken)
    summary = reencode_dataset("ucf101", src, dst, SMALL, workers=2)
    assert list(summary["failed"]) == [broken] and summary["problems"] == []
    out = capsys.readouterr().out
    assert "1 videos could not be read" in out and broken in out
    assert open(os.path.join(dst, "reencode_report.txt")).read().startswith(broken + ": ")
    assert not os.path.exists(reencode.copy_target(broken.replace(src, dst)))
    assert summary["encoded"] == 8
    dm = VideoDataModule("ucf101", dst, mode="finetune", num_frames=4, input_size=32, batch_size=2,
                         num_workers=0, pin_memory=False, backend="pyav")  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (2, 3, 4, 32, 32)


class Killed(BaseException):
    """Stands for the process being interrupted (pytest reserves KeyboardInterrupt for itself)."""


def test_an_interrupted_run_resumes_without_half_written_files(tmp_path, video_bank, monkeypatch):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("hmdb51", src, video_bank)
    real = reencode.reencode_video
    calls, resumed = [], False

    def interrupted(source, target, settings, threads, tick=None):
        calls.append(source)
        if len(calls) == 4 and not resumed:  # killed while writing the fourth video: a temp file is open
            with reencode.atomic_path(target) as tmp:
                open(tmp, "wb").write(b"half a video")
                raise Killed
        real(source, target, settings, threads)

    monkeypatch.setattr(reencode, "reencode_video", interrupted)
    with pytest.raises(Killed):
        reencode_dataset("hmdb51", src, dst, SMALL, workers=1)
    done = sorted(os.path.join(d, f) for d, _, fs in os.walk(dst) for f in fs if f.endswith(".mp4"))
    assert len(done) == 3 and all(stream_info(p)[3] > 0 for p in done)
    # a SIGKILL leaves the temporary file behind; the next run removes it
    stale = os.path.join(os.path.dirname(done[0]), f".{os.path.basename(done[0])}.{'ab' * 16}.tmp")
    open(stale, "wb").write(b"half")
    before = {p: os.stat(p).st_mtime_ns for p in done}
    calls.clear()
    resumed = True
    summary = reencode_dataset("hmdb51", src, dst, SMALL, workers=1)
    assert len(calls) == 6 and summary["encoded"] == 6 and summary["problems"] == []  # 9 videos, 3 done
    assert all(os.stat(p).st_mtime_ns == t for p, t in before.items()) and not os.path.exists(stale)
    assert not [f for _, _, fs in os.walk(dst) for f in fs if f.endswith(".tmp")]


def test_script_reencodes(tmp_path, video_bank):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("folder", src, video_bank)
    place(video_bank, "garbage", os.path.join(src, "train", "a", "bad.mp4"))
    args = ("folder", "--root", src, "--reencode", dst, "--short-side", "32")
    result = run_script("prepare_dataset.py", *args, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "1 videos could not be read" in result.stdout and "bad.mp4" in result.stdout
    assert "the copy reads as the original" in result.stdout
    assert sorted(os.listdir(os.path.join(dst, "train", "a"))) == ["v.mp4"]
    again = run_script("prepare_dataset.py", *args)
    assert "4 already in" in again.stdout and "encoded 0 videos" in again.stdout
    inside = run_script("prepare_dataset.py", "folder", "--root", src, "--reencode", os.path.join(src, "x"))
    assert inside.returncode == 2 and "must be outside --root" in inside.stderr
