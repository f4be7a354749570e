"""The re-encoded training copy (videomae.data.reencode, prepare_dataset.py --reencode)."""

import os
import time

import av
import numpy as np
import pytest
from helpers import BUILDERS, place, run_script

from videomae.data import reencode
from videomae.data.config import DataConfig
from videomae.data.datamodule import create_datamodule
from videomae.data.layouts import load_index
from videomae.data.prepare import main as prepare_main
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
    data = DataConfig("ucf101", dst, num_frames=4, input_size=32, batch_size=2, num_workers=0,
                      pin_memory=False, backend="pyav")  # fmt: skip
    dm = create_datamodule(data, "finetune")
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


# --- hostile inputs (issue 24) -------------------------------------------------------------------


def tree(root: str) -> dict[str, bytes]:
    """Every file under `root` (links not followed) and its bytes: to see that nothing changed."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            out[os.path.relpath(path, root)] = open(path, "rb").read() if os.path.isfile(path) else b"link"
    return out


def reencode_script(*args: str) -> tuple[int, str, str]:
    """prepare_dataset.py --reencode, in this process (monkeypatches reach it)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = prepare_main([*args] if "--workers" in args else [*args, "--workers", "1"])
    return code, out.getvalue(), err.getvalue()


def test_dst_reached_through_a_symlink_to_src_is_refused_before_writing(tmp_path, video_bank):
    src = str(tmp_path / "src")
    build("ucf101", src, video_bank)
    os.symlink(src, tmp_path / "link")  # the link is DST, or DST lies under it
    os.symlink(tmp_path / "elsewhere", os.path.join(src, "peek"))  # a folder link in SRC to DST
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path, tmp_path / "up")  # SRC through a link whose real path holds DST
    before = tree(src)
    for dst in (tmp_path / "link", tmp_path / "link" / "copy", tmp_path / "elsewhere" / "copy"):
        code, out, err = reencode_script(
            "ucf101", "--root", src, "--reencode", str(dst), "--short-side", "32"
        )
        assert code == 2 and err.count("\n") == 1 and "must be outside --root" in err, (dst, err)
    code, _, err = reencode_script("ucf101", "--root", str(tmp_path / "up" / "src"), "--reencode",
                                   str(tmp_path / "src" / "copy"))  # fmt: skip
    assert code == 2 and "must be outside --root" in err
    assert tree(src) == before  # the split files and videos untouched, nothing added
    assert os.listdir(tmp_path / "elsewhere") == []


@pytest.fixture
def bind_mount():
    """mount --bind (root only; skipped where mounts are not allowed); unmounted after the test."""
    import subprocess

    mounted = []

    def mount(source, target):
        os.makedirs(target, exist_ok=True)
        out = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True, text=True)
        if out.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {out.stderr.strip()[:100]}")
        mounted.append(str(target))

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", target], check=False)


def test_dst_in_a_linked_folder_through_a_mount_is_refused(tmp_path, video_bank, bind_mount):
    """--root reads a folder through a link; DST lies in that folder (or holds it) only through a
    bind mount: no path comparison sees it, the folder's identity does."""
    src, outside = tmp_path / "src", tmp_path / "outside"
    build("folder", str(src), video_bank)
    place(video_bank, "mp4", str(outside / "x" / "e.mp4"))
    os.symlink(outside / "x", src / "train" / "a" / "ext")  # --root reads outside/x through it
    bind_mount(outside, tmp_path / "view")
    before = tree(str(outside))
    for dst in (tmp_path / "view" / "x" / "copy", tmp_path / "view"):
        code, _, err = reencode_script(
            "folder", "--root", str(src), "--reencode", str(dst), "--short-side", "32"
        )
        assert code == 2 and err.count("\n") == 1 and "must be outside --root" in err, (dst, err)
        assert "through a mount" in err
    assert tree(str(outside)) == before


def test_a_symlink_loop_is_copied_once(tmp_path, video_bank, capsys):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("folder", src, video_bank)
    os.symlink("..", os.path.join(src, "train", "a", "back"))  # a/back/a/back/... without end
    summary = reencode_dataset("folder", src, dst, SMALL, workers=1)
    assert summary["problems"] == [] and summary["encoded"] == 4
    written = [os.path.join(d, f) for d, _, fs in os.walk(dst) for f in fs if f.endswith(".mp4")]
    assert len(written) == 4  # each video once
    assert os.readlink(os.path.join(dst, "train", "a", "back")) == ".."  # laid out as the original
    out = capsys.readouterr().out
    assert "warning: " in out and "1 folder link(s) lead to a folder already walked" in out
    index = load_index("folder", dst)
    assert len(index.splits["train"]) == 2 and any("a/back" in note for note in index.notes)


def test_a_fifo_named_like_a_video_is_skipped_and_reported(tmp_path, video_bank):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("folder", src, video_bank)
    fifo = os.path.join(src, "train", "a", "live.mp4")
    os.mkfifo(fifo)
    args = ("folder", "--root", src, "--reencode", dst, "--short-side", "32", "--workers", "1")
    for _ in range(2):  # and again on rerun
        result = run_script("prepare_dataset.py", *args, timeout=120)  # it used to block forever here
        assert result.returncode == 0, result.stderr
        assert f"{fifo}: not a regular file (a named pipe (FIFO))" in result.stdout
        assert "the copy reads as the original" in result.stdout
    assert "FIFO" in open(os.path.join(dst, "reencode_report.txt")).read()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_source_that_stalls_is_given_up(tmp_path, video_bank, workers):
    fifo, dst = str(tmp_path / "stalls.mp4"), str(tmp_path / "copy" / "stalls.mp4")
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # holds the pipe open: the reader waits for more bytes
    os.write(writer, open(video_bank["mp4"], "rb").read()[:3000])  # the first bytes of a video
    good_dst = str(tmp_path / "copy" / "good.mp4")
    jobs = [(fifo, dst, SMALL, 0, 1.0), (video_bank["mp4"], good_dst, SMALL, 0, 1.0)]
    try:
        start = time.monotonic()
        written, failed = reencode.encode_all(jobs, workers=workers)
        assert time.monotonic() - start < 30
        assert written == 1 and failed == {fifo: "no frame from the source for 1 s (--video-timeout)"}
        assert os.path.isfile(good_dst)
    finally:
        os.close(writer)  # the abandoned reader sees the end, stops at its next frame, cleans up
    time.sleep(1)
    assert sorted(os.listdir(tmp_path / "copy")) == ["good.mp4"]


def full_disk_after(monkeypatch, limit: int) -> None:
    """Every file PyAV writes (the copy's videos) fails with ENOSPC once `limit` bytes are written,
    as a full disk fails the write call."""
    import errno

    real_open = av.open

    class FullFile:
        def __init__(self, path):
            self.file, self.size = open(path, "w+b"), 0

        def write(self, data):
            if self.size + len(data) > limit:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.size += len(data)
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

    def opened(target, mode="r", *args, **kwargs):
        if mode == "w" and isinstance(target, str):
            target = FullFile(target)
        return real_open(target, mode, *args, **kwargs)

    monkeypatch.setattr(av, "open", opened)


def test_a_full_disk_stops_the_run_and_says_so(tmp_path, video_bank, monkeypatch):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("ucf101", src, video_bank)
    full_disk_after(monkeypatch, 2000)
    code, out, err = reencode_script("ucf101", "--root", src, "--reencode", dst, "--short-side", "32")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "no space left on device (ENOSPC)" in err and "0 of 9 videos written" in err, err
    assert "holds no videos" not in err + out and "could not be read" not in out
    assert not [f for _, _, fs in os.walk(dst) for f in fs if f.endswith((".mp4", ".tmp"))]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unwritable_dst_is_one_line(tmp_path, video_bank, workers):
    src = str(tmp_path / "src")
    build("folder", src, video_bank)
    (tmp_path / "file").write_text("a file, not a folder")
    code, _, err = reencode_script("folder", "--root", src, "--reencode", str(tmp_path / "file" / "copy"))
    assert (
        code == 2
        and err == f"error: --reencode {tmp_path / 'file' / 'copy'}: cannot write there (Not a directory)\n"
    )
    code, _, err = reencode_script("folder", "--root", src, "--reencode", str(tmp_path / "file"))
    assert code == 2 and err == f"error: --reencode {tmp_path / 'file'}: is a file, not a folder\n"
    # a folder of the copy that cannot be made midway: stops, in one line, naming the path
    dst = tmp_path / "copy"
    dst.mkdir()
    (dst / "train").write_text("in the way")
    code, _, err = reencode_script("folder", "--root", src, "--reencode", str(dst), "--workers", workers)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: cannot write the copy: ") and str(dst / "train") in err


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("--preset", "bogus", "--preset 'bogus' is not one of ultrafast, superfast"),
        ("--tune", "bogus", "--tune 'bogus' is not one of film"),
        ("--short-side", "0", "--short-side 0 is not allowed: an integer of 2 or more"),
        ("--crf", "99", "--crf 99 is not allowed: an integer from 0 to 51"),
        ("--video-timeout", "-1", "--video-timeout -1.0 is not allowed"),
    ],
)
def test_encoder_settings_are_checked_up_front(tmp_path, video_bank, flag, value, says):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("folder", src, video_bank)
    code, out, err = reencode_script("folder", "--root", src, "--reencode", dst, flag, value)
    assert code == 2 and err.startswith(f"error: {says}") and err.count("\n") == 1
    assert not os.path.exists(dst) and out == ""
    assert reencode_script("folder", "--root", src, "--reencode", dst, "--tune", "fastdecode,zerolatency",
                           "--short-side", "32")[0] == 0  # fmt: skip


def test_counts_are_those_of_the_files_written(tmp_path, video_bank):
    src, dst = str(tmp_path / "src"), str(tmp_path / "copy")
    build("ucf101", src, video_bank)
    clash = os.path.join(src, "UCF-101", "Basketball", "v_Basketball_g01_c01.mp4")  # next to its .avi
    place(video_bank, "mp4", clash)
    code, out, _ = reencode_script("ucf101", "--root", src, "--reencode", dst, "--short-side", "32")
    written = [f for _, _, fs in os.walk(dst) for f in fs if f.endswith(".mp4")]
    assert code == 0 and len(written) == 9
    assert "10 videos under" in out and "0 already in" in out and "9 to encode" in out
    assert "encoded 9 videos" in out and "could not be read" not in out
    assert "1 videos have the same name in the copy as another one" in out and clash in out
    assert "the copy reads as the original" in out
    code, out, _ = reencode_script("ucf101", "--root", src, "--reencode", dst, "--short-side", "32")
    assert "9 already in" in out and "encoded 0 videos" in out
