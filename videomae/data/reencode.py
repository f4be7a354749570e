"""A training copy of a dataset, re-encoded for random access: `prepare_dataset.py NAME --reencode`.

    python scripts/prepare_dataset.py k400 --root /data/k400 --reencode /data/k400-320p

Every video under --root becomes an H.264 mp4 at the same relative path (the extension becomes
.mp4): short side 320 (never upscaled), every frame kept at the source's frame rate (so frame
indices, and therefore sampled clips, stay those of the original), no audio, and a short keyframe
interval with non-reference B-frames and x264's `fastdecode` tune (see docs/benchmarks.md for the
measured trade-off). The annotation files (.txt, .csv, .json) are copied, with video extensions
and absolute paths under --root rewritten, so `dataset=NAME data.root=COPY` reads the copy exactly
as it reads the original (checked at the end).

It runs in parallel processes with a progress bar, skips videos already done (resumable), writes
each file to a temporary name and renames it when complete (never a half-written video), keeps
going past unreadable videos and lists them at the end and in reencode_report.txt.
"""

import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

from videomae.atomic_files import atomic_path, clean_stale_temp_files
from videomae.data.layouts import is_video, load_index
from videomae.data.video import short_side_size

ANNOTATION_EXTENSIONS = (".txt", ".csv", ".json", ".tsv", ".list")
REPORT = "reencode_report.txt"


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


def reencode_video(src: str, dst: str, settings: EncodeSettings, threads: int = 0) -> None:
    """Re-encode one video (every frame, in order) to `dst`, atomically; raises if unreadable.
    `threads`: decoder and encoder threads (0: FFmpeg's choice; 1 when processes run in parallel)."""
    import av

    with av.open(src) as source:
        if not source.streams.video:
            raise ValueError("no video stream")
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
            for frame in source.decode(stream):
                if count == 0 and frame.rotation:  # a phone video's display rotation stays
                    video.set_display_rotation(frame.rotation)
                frame = frame.reformat(width, height, format="yuv420p", interpolation="AREA")
                frame.pts, frame.time_base = count, Fraction(1) / Fraction(rate)
                out.mux(video.encode(frame))
                count += 1
            out.mux(video.encode())
            if count == 0:
                raise ValueError("no frames decoded")


def _encode_one(job: tuple[str, str, EncodeSettings, int]) -> tuple[str, str | None]:
    src, dst, settings, threads = job
    try:
        reencode_video(src, dst, settings, threads)
    except Exception as err:  # every unreadable video is reported at the end; the run goes on
        lines = str(err).strip().splitlines()
        return src, f"{type(err).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
    return src, None


def copy_target(path: str) -> str:
    """The name a video gets in the copy: same path, extension .mp4."""
    return os.path.splitext(path)[0] + ".mp4"


def plan(src_root: str, dst_root: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(videos, annotation files) under `src_root`, each with its path in the copy."""
    videos, texts = [], []
    for dirpath, dirnames, filenames in os.walk(src_root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, src_root)
        for name in sorted(filenames):
            src, dst = os.path.join(dirpath, name), os.path.normpath(os.path.join(dst_root, rel_dir, name))
            if is_video(name):
                videos.append((src, copy_target(dst)))
            elif name.lower().endswith(ANNOTATION_EXTENSIONS) and name != REPORT:
                texts.append((src, dst))
    return videos, texts


_VIDEO_EXT = re.compile(
    r"\.(?:avi|mkv|webm|mov|m4v|mpg|mpeg|flv|wmv|3gp|ogv|ts|mts|m2ts|vob)(?=[\s\",]|$)", re.I
)


def rewrite_annotation(src: str, dst: str, src_root: str, dst_root: str) -> None:
    """Copy an annotation file, naming the copy's videos: extensions -> .mp4, paths under the
    source root -> the copy's root. Line ends and encoding are kept byte for byte otherwise."""
    with open(src, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # not text we can rewrite safely: copy as it is
        shutil.copyfile(src, dst)
        return
    text = text.replace(os.path.abspath(src_root) + os.sep, os.path.abspath(dst_root) + os.sep)
    text = _VIDEO_EXT.sub(".mp4", text)
    with atomic_path(dst) as tmp, open(tmp, "wb") as f:
        f.write(text.encode("utf-8"))


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("re-encoding"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"), TimeRemainingColumn()
    )


def encode_all(jobs: list[tuple[str, str, EncodeSettings, int]], workers: int) -> dict[str, str]:
    """Run the jobs (in `workers` processes), a progress bar with ETA; {source: why} for failures."""
    failed = {}
    with _progress() as bar:
        task = bar.add_task("videos", total=len(jobs))
        if workers <= 1:
            results = map(_encode_one, jobs)
            for src, why in results:
                if why:
                    failed[src] = why
                bar.advance(task)
        else:
            with ProcessPoolExecutor(workers) as pool:
                for src, why in pool.map(_encode_one, jobs, chunksize=1):
                    if why:
                        failed[src] = why
                    bar.advance(task)
    return failed


def _same_index(name: str, src_root: str, dst_root: str, split: int, failed: dict[str, str]) -> list[str]:
    """How the copy's index differs from the original's, the unreadable videos aside (empty: it
    reads the same)."""
    left_out = {copy_target(os.path.relpath(p, src_root)) for p in failed}

    def normal(index, root):
        return {
            s: [
                (rel, label)
                for p, label in samples
                if (rel := copy_target(os.path.relpath(p, root))) not in left_out
            ]
            for s, samples in index.splits.items()
        }

    original, copy = load_index(name, src_root, split=split), load_index(name, dst_root, split=split)
    a, b = normal(original, src_root), normal(copy, dst_root)
    problems = [
        f"{s}: {len(a.get(s, []))} videos, the copy {len(b.get(s, []))}" for s in a if a[s] != b.get(s)
    ]
    if original.classes != copy.classes:
        problems.append("the class names differ")
    return problems


def reencode_dataset(
    name: str, src_root: str, dst_root: str, settings: EncodeSettings = EncodeSettings(), workers: int = 1,
    split: int = 1,
) -> dict:  # fmt: skip
    """Write the training copy (see the module docstring); returns a summary."""
    src_root, dst_root = (os.path.abspath(os.path.expanduser(p)) for p in (src_root, dst_root))
    if os.path.commonpath([src_root, dst_root]) in (src_root, dst_root):
        raise ValueError(f"--reencode {dst_root} must be outside --root {src_root} (and not contain it)")
    videos, texts = plan(src_root, dst_root)
    for directory in sorted({os.path.dirname(d) for _, d in videos + texts}):
        clean_stale_temp_files(directory)  # what a killed run left: never a half-written file
    for src, dst in texts:
        rewrite_annotation(src, dst, src_root, dst_root)
    targets: dict[str, str] = {}
    failed = {}
    for src, dst in videos:
        if dst in targets:
            failed[src] = f"same name in the copy as {targets[dst]}"
        targets.setdefault(dst, src)
    threads = 0 if workers <= 1 else 1  # one process per core, or one process with every core
    todo = [(src, dst, settings, threads) for dst, src in targets.items() if not os.path.isfile(dst)]
    print(f"{name}: {len(videos)} videos under {src_root}; {len(videos) - len(todo)} already in {dst_root}")
    start = time.monotonic()
    failed.update(encode_all(todo, workers))
    with open(os.path.join(dst_root, REPORT), "w", encoding="utf-8") as f:
        f.writelines(f"{p}: {why}\n" for p, why in sorted(failed.items()))
    problems = _same_index(name, src_root, dst_root, split, failed)
    summary = {
        "videos": len(videos),
        "encoded": len(todo) - len(failed),
        "failed": failed,
        "problems": problems,
    }
    _report(summary, time.monotonic() - start, dst_root)
    return summary


def _report(summary: dict, seconds: float, dst_root: str) -> None:
    failed = summary["failed"]
    print(f"encoded {summary['encoded']} videos in {seconds:.0f} s; the copy is in {dst_root}")
    if failed:
        print(f"{len(failed)} videos could not be read (not in the copy; the loader skips them), "
              f"all in {os.path.join(dst_root, REPORT)}:")  # fmt: skip
        for path, why in sorted(failed.items())[:20]:
            print(f"  {path}: {why}")
        if len(failed) > 20:
            print(f"  ... and {len(failed) - 20} more")
    for problem in summary["problems"]:
        print(f"warning: the copy does not read as the original: {problem}")
    if not summary["problems"]:
        print(
            "the copy reads as the original: same videos, labels and splits"
            + (" (less the unreadable ones)" if failed else "")
        )
