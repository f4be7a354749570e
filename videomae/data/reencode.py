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
going past unreadable videos and lists them at the end and in reencode_report.txt, with the
files named like videos that are not regular files (skipped up front: a FIFO blocks its reader)
and the name clashes (x.avi and x.mp4 both become x.mp4). A source that gives no frame for
--video-timeout seconds is given up. Before writing anything it refuses a DST that overlaps
--root by real path or file identity, and a DST it cannot write; a write that fails midway (a full
disk, a read-only folder) stops the run with one line (DiskFullError, CopyError). Each real folder
is walked once: a symlink loop or a second link to a folder becomes a link in the copy.
"""

import errno
import multiprocessing
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor

from videomae.data.copy_plan import REPORT, check_apart, copy_target, plan, writable
from videomae.data.layouts import DatasetIndex, load_index
from videomae.data.transcode import (
    EncodeSettings,
    UnreadableVideo,
    output_size,
    reencode_video,
    with_stall_limit,
)
from videomae.utils.atomic_files import atomic_path, clean_stale_temp_files
from videomae.utils.errors import DiskFullError

__all__ = ["EncodeSettings", "copy_target", "output_size", "reencode_dataset", "reencode_video"]

VIDEO_TIMEOUT = 300.0  # seconds a source may go without giving a frame (--video-timeout)


class CopyError(RuntimeError):
    """The copy cannot be written (a read-only or unwritable DST, an I/O error); the run stops."""


def _encode_one(job: tuple[str, str, EncodeSettings, int, float | None]) -> tuple[str, str | None]:
    """(source, None) once written, (source, why) if the source cannot be read or stalls. Errors
    of writing the copy (OSError, DiskFullError) propagate: every later video would fail alike."""
    src, dst, settings, threads, limit = job
    try:
        with_stall_limit(lambda tick: reencode_video(src, dst, settings, threads, tick=tick), limit)
    except UnreadableVideo as err:  # reported at the end; the run goes on
        return src, str(err)
    except (OSError, DiskFullError):
        raise
    except Exception as err:  # an encoder's error on this video (e.g. a frame size x264 refuses)
        lines = str(err).strip().splitlines()
        return src, f"{type(err).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
    return src, None


def _not_regular_note(skipped: dict[str, str]) -> str:
    return f"{len(skipped)} entries named like videos are not regular files (skipped, not in the copy)"


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


def encode_all(
    jobs: list[tuple[str, str, EncodeSettings, int, float | None]], workers: int
) -> tuple[int, dict[str, str]]:
    """Run the jobs (in `workers` processes), a progress bar with ETA; (videos written, {source:
    why} for the failures). An error writing the copy stops the run: CopyError, DiskFullError."""
    written, failed = 0, {}
    with _progress() as bar:
        task = bar.add_task("videos", total=len(jobs))

        def take(src: str, why: str | None) -> None:
            nonlocal written
            if why:
                failed[src] = why
            else:
                written += 1
            bar.advance(task)

        try:
            if workers <= 1:
                for job in jobs:
                    take(*_encode_one(job))
            else:
                pool = _pool(workers)
                try:
                    for src, why in pool.map(_encode_one, jobs, chunksize=1):
                        take(src, why)
                finally:  # after an error: no new videos, only the ones under way finish
                    pool.shutdown(wait=True, cancel_futures=True)
        except (OSError, DiskFullError) as err:
            raise _stopped(err, written, len(jobs)) from None
    return written, failed


def _pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes forked from a clean server process (spawned where there is none), never
    from this one: a fork of a process whose FFmpeg has run threads (an earlier encoding here, a
    notebook) can deadlock in the child, freeing a codec."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload([__name__])  # imported once, in the server
    return ProcessPoolExecutor(workers, mp_context=context)


def _stopped(err: BaseException, written: int, total: int) -> RuntimeError:
    """The one-line error that ends a run that could not write the copy."""
    done = f"{written} of {total} videos written before it stopped"
    again = "run the same command again: it resumes, keeping the videos written"
    if isinstance(err, DiskFullError) or (
        isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    ):
        where = (
            str(err).split(": it needs")[0]
            if isinstance(err, DiskFullError)
            else f"disk full while writing {err.filename}"
        )
        return DiskFullError(f"{where}: no space left on device (ENOSPC); {done}; free space and {again}")
    if isinstance(err, OSError):
        return CopyError(
            f"cannot write the copy: {err.filename or ''}: {err.strerror or err}; {done}; {again}"
        )
    return CopyError(f"cannot write the copy: {err}; {done}")


def _same_index(
    name: str, original: DatasetIndex, src_root: str, dst_root: str, split: int, left_out: set[str]
) -> list[str]:
    """How the copy's index differs from the original's, the videos not copied (`left_out`,
    source paths) aside (empty: it reads the same)."""
    missing = {copy_target(os.path.relpath(p, src_root)) for p in left_out}

    def normal(index, root):
        return {
            s: [
                (rel, label)
                for p, label in samples
                if (rel := copy_target(os.path.relpath(p, root))) not in missing
            ]
            for s, samples in index.splits.items()
        }

    copy = load_index(name, dst_root, split=split)
    a, b = normal(original, src_root), normal(copy, dst_root)
    problems = [
        f"{s}: {len(a.get(s, []))} videos, the copy {len(b.get(s, []))}" for s in a if a[s] != b.get(s)
    ]
    if original.classes != copy.classes:
        problems.append("the class names differ")
    return problems


def _link(where: str, target: str) -> None:
    """A folder link of the copy (kept as it is when a previous run made it)."""
    if not os.path.lexists(where):
        os.makedirs(os.path.dirname(where), exist_ok=True)
        os.symlink(target, where, target_is_directory=True)


def reencode_dataset(
    name: str, src_root: str, dst_root: str, settings: EncodeSettings | None = None, workers: int = 1,
    split: int = 1, video_timeout: float | None = VIDEO_TIMEOUT,
) -> dict:  # fmt: skip
    """Write the training copy (see the module docstring); returns a summary. Refuses (ConfigError,
    before writing anything) a DST that overlaps --root or cannot be written; stops with
    DiskFullError or CopyError when writing fails midway."""
    settings = settings or EncodeSettings()
    src_root, dst_root = (os.path.abspath(os.path.expanduser(p)) for p in (src_root, dst_root))
    work = plan(src_root, dst_root)
    check_apart(src_root, dst_root, work.folders)
    original = load_index(name, src_root, split=split)  # a --root it cannot read fails here, not at the end
    writable(dst_root)
    for note in work.notes:
        print(f"warning: {note}")
    targets: dict[str, str] = {}
    clashes = {}
    for src, dst in work.videos:
        if dst in targets:  # x.avi and x.mp4 in one folder: both would be x.mp4 in the copy
            clashes[src] = (
                f"same name in the copy as {targets[dst]} (both become {os.path.basename(dst)}): not copied"
            )
        targets.setdefault(dst, src)
    already = sum(1 for dst in targets if os.path.isfile(dst))
    threads = 0 if workers <= 1 else 1  # one process per core, or one process with every core
    todo = [
        (src, dst, settings, threads, video_timeout)
        for dst, src in targets.items()
        if not os.path.isfile(dst)
    ]
    print(
        f"{name}: {len(work.videos)} videos under {src_root}; {already} already in {dst_root}, "
        f"{len(todo)} to encode"
    )
    start = time.monotonic()
    try:
        for directory in sorted({os.path.dirname(d) for _, d in work.videos + work.texts}):
            clean_stale_temp_files(directory)  # what a killed run left: never a half-written file
        for where, target in work.links:
            _link(where, target)
        for src, dst in work.texts:
            rewrite_annotation(src, dst, src_root, dst_root)
    except (OSError, DiskFullError) as err:
        raise _stopped(err, 0, len(todo)) from None
    written, failed = encode_all(todo, workers)
    try:
        with open(os.path.join(dst_root, REPORT), "w", encoding="utf-8") as f:
            f.writelines(f"{p}: {why}\n" for p, why in sorted({**failed, **clashes, **work.skipped}.items()))
    except OSError as err:
        raise _stopped(err, written, len(todo)) from None
    problems = _same_index(name, original, src_root, dst_root, split, {*failed, *clashes, *work.skipped})
    summary = {
        "videos": len(work.videos) + len(work.skipped),
        "already": already,
        "encoded": written,
        "failed": failed,
        "clashes": clashes,
        "skipped": work.skipped,
        "problems": problems,
    }
    _report(summary, time.monotonic() - start, dst_root)
    return summary


def _listing(header: str, items: dict[str, str]) -> None:
    if not items:
        return
    print(header)
    for path, why in sorted(items.items())[:20]:
        print(f"  {path}: {why}")
    if len(items) > 20:
        print(f"  ... and {len(items) - 20} more")


def _report(summary: dict, seconds: float, dst_root: str) -> None:
    failed, clashes, skipped = summary["failed"], summary["clashes"], summary["skipped"]
    report = os.path.join(dst_root, REPORT)
    print(f"encoded {summary['encoded']} videos in {seconds:.0f} s; the copy is in {dst_root}")
    _listing(
        f"{len(failed)} videos could not be read (not in the copy; the loader skips them), all in {report}:",
        failed,
    )
    _listing(
        f"{len(clashes)} videos have the same name in the copy as another one (not in the copy), "
        f"all in {report}:",
        clashes,
    )
    _listing(f"{_not_regular_note(skipped)}, all in {report}:", skipped)
    for problem in summary["problems"]:
        print(f"warning: the copy does not read as the original: {problem}")
    if not summary["problems"]:
        left = [
            f"{len(d)} {what}"
            for d, what in ((failed, "unreadable"), (clashes, "name clashes"), (skipped, "not regular files"))
            if d
        ]
        print(
            "the copy reads as the original: same videos, labels and splits"
            + (f" (less the {', '.join(left)})" if left else "")
        )
