"""`scripts/prepare_dataset.py`: an official download (or any folder of videos) -> our lists.

    python scripts/prepare_dataset.py ucf101 --root /data/UCF101 --split 1
    python scripts/prepare_dataset.py k400 --root /data/k400 --out /data/k400/lists
    python scripts/prepare_dataset.py k400 --root /data/k400 --reencode /data/k400-320p

Writes train.csv, val.csv (and test.csv when the test split differs from validation) as
`path label` lines, and classes.txt (`index name`), in --out (default: --root). Every listed
video is checked (exists and non-empty; with --check decode, also opened and decoded through
decord); the ones that fail are reported on the terminal and in prepare_report.txt, and left out
of the lists unless --keep-bad.

With --reencode DST it writes instead a training copy of the whole dataset, built for fast random
access (short side 320, H.264 with short keyframe intervals, no audio; videomae.data.reencode),
that `dataset=NAME data.root=DST` reads exactly as it reads --root.
"""

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import TypedDict

from videomae.data.annotations import is_path_label_list, write_list
from videomae.data.layouts import READERS, DatasetIndex
from videomae.data.reencode import VIDEO_TIMEOUT, CopyError, EncodeSettings, reencode_dataset
from videomae.data.video import VideoDecoder, VideoReadError
from videomae.utils.errors import ConfigError, DiskFullError

_DECODER = VideoDecoder(timeout=60.0)  # one per process (its state is made per process id)


def check_video(path: str, decode: bool) -> str | None:
    """None if the video is usable, else why not."""
    if not os.path.exists(path):
        return "missing"
    if not os.path.isfile(path):
        return "not a file"
    if os.path.getsize(path) == 0:
        return "empty file"
    if not decode:
        return None
    try:
        _DECODER.read(path, lambda n: [0, n - 1])
    except VideoReadError as err:
        reason = str(err)
        return reason[len(path) + 2 :] if reason.startswith(f"{path}: ") else reason
    return None


def _check_chunk(paths: list[str], decode: bool) -> list[str | None]:
    return [check_video(p, decode) for p in paths]


def check_videos(paths: list[str], decode: bool, workers: int) -> dict[str, str]:
    """{path: reason} for the unusable ones."""
    if not decode or workers <= 1 or len(paths) < 64:
        results = _check_chunk(paths, decode)
    else:
        size = max(16, len(paths) // (workers * 8))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        with ProcessPoolExecutor(workers) as pool:
            results = [r for part in pool.map(_check_chunk, chunks, [decode] * len(chunks)) for r in part]
    return {p: r for p, r in zip(paths, results, strict=True) if r is not None}


def _guard(path: str) -> None:
    """Never overwrite a file that is not one of our lists (e.g. Kinetics' own train.csv)."""
    if os.path.isfile(path) and not is_path_label_list(path):
        raise ConfigError(f"{path} exists and is not a 'path label' list; choose another --out directory")


def _class_lines(classes: list[str]) -> str:
    return "".join(f"{i} {c}\n" for i, c in enumerate(classes))


def _guard_classes(path: str, classes: list[str]) -> None:
    """Never replace a classes.txt that says something else (one the user wrote, say with their own
    names or order): the class indices of their runs depend on it. The same content is ours."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        same = [line.strip() for line in f if line.strip()] == _class_lines(classes).splitlines()
    if not same:
        raise ConfigError(
            f"{path} exists and differs from the {len(classes)} class names found under --root; it is "
            "left as it is: choose another --out directory (or remove the file)"
        )


class PrepareSummary(TypedDict):
    out: str  # the folder the lists were written to
    bad: dict[str, str]  # {path: why it is unusable}
    counts: dict[str, tuple[int, int]]  # {split: (videos kept, videos listed)}


def prepare(
    dataset: str, root: str, out: str | None = None, split: int = 1, check: str = "decode", workers: int = 1,
    keep_bad: bool = False,
) -> PrepareSummary:  # fmt: skip
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise ConfigError(f"--root {root} is not a directory")
    out = os.path.abspath(os.path.expanduser(out or root))
    index: DatasetIndex = READERS[dataset].read(root, split)
    names = ["train", "val"] + (["test"] if index.splits.get("test") is not index.splits.get("val") else [])
    for name in names:
        _guard(os.path.join(out, f"{name}.csv"))
    if index.classes:
        _guard_classes(os.path.join(out, "classes.txt"), index.classes)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    unique = sorted({p for name in names for p, _ in index.splits.get(name) or []})
    print(f"{dataset}: {len(unique)} videos listed in {index.source}; checking ({check}) ...", flush=True)
    bad = check_videos(unique, check == "decode", workers) if check != "none" else {}
    summary: PrepareSummary = {"out": out, "bad": bad, "counts": {}}
    for name in names:
        samples = index.splits.get(name) or []
        kept = samples if keep_bad else [(p, label) for p, label in samples if p not in bad]
        summary["counts"][name] = (len(kept), len(samples))
        path = os.path.join(out, f"{name}.csv")
        if samples:
            write_list(path, kept)
            print(f"  {name}: {len(kept)} of {len(samples)} videos -> {path}")
        elif os.path.isfile(path):  # not ours to delete, but it is what the loader will read
            print(f"  {name}: no videos, nothing written; warning: the {path} already there is left as it is")
        else:
            print(f"  {name}: no videos, no {name}.csv written")
    if index.classes:
        with open(os.path.join(out, "classes.txt"), "w", encoding="utf-8") as f:
            f.write(_class_lines(index.classes))
        print(f"  {len(index.classes)} classes -> {os.path.join(out, 'classes.txt')}")
    report = os.path.join(out, "prepare_report.txt")
    with open(report, "w", encoding="utf-8") as f:
        f.writelines(f"{p}: {r}\n" for p, r in sorted(bad.items()))
    if bad:
        kinds: dict[str, int] = {}
        for reason in bad.values():
            kinds[reason.split(":")[0]] = kinds.get(reason.split(":")[0], 0) + 1
        what = "kept in" if keep_bad else "left out of"
        print(f"{len(bad)} listed videos are missing or unreadable ({what} the lists), all in {report}:")
        for path, reason in sorted(bad.items())[:20]:
            print(f"  {path}: {reason}")
        if len(bad) > 20:
            print(f"  ... and {len(bad) - 20} more")
    else:
        print("all listed videos are readable")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="prepare_dataset.py", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("dataset", choices=sorted(READERS))
    parser.add_argument("--root", required=True, help="the extracted download (videos and annotation files)")
    parser.add_argument("--out", help="where to write the lists (default: --root)")
    parser.add_argument("--split", type=int, default=1, help="ucf101 / hmdb51 split: 1, 2 or 3 (default 1)")
    parser.add_argument(
        "--check", choices=("decode", "exists", "none"), default="decode",
        help="decode: open and decode every video (default); exists: only look for the files",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for --check decode"
    )
    parser.add_argument("--keep-bad", action="store_true", help="keep missing/unreadable videos in the lists")
    _reencode_options(parser)
    args = parser.parse_args(argv)
    try:
        if args.reencode:
            return _reencode(args)
        prepare(args.dataset, args.root, args.out, args.split, args.check, args.workers, args.keep_bad)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (DiskFullError, CopyError) as err:  # the copy could not be written: said in one line
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _reencode_options(parser: argparse.ArgumentParser) -> None:
    default = EncodeSettings()
    group = parser.add_argument_group("--reencode (a training copy built for random access)")
    group.add_argument("--reencode", metavar="DST", help="write the re-encoded copy of --root here")
    group.add_argument(
        "--short-side", type=int, default=default.short_side, help="never upscaled (default 320)"
    )
    group.add_argument(
        "--keyint", type=int, default=default.keyint, help=f"keyframe interval (default {default.keyint})"
    )
    group.add_argument("--bframes", type=int, default=default.bframes, help=f"default {default.bframes}")
    group.add_argument("--tune", default=default.tune, help="x264 tune (default fastdecode; 'none': off)")
    group.add_argument("--crf", type=int, default=default.crf, help=f"x264 quality (default {default.crf})")
    group.add_argument("--preset", default=default.preset, help=f"x264 preset (default {default.preset})")
    group.add_argument(
        "--video-timeout", type=float, default=VIDEO_TIMEOUT, metavar="SECONDS",
        help=f"give up a video whose source gives no frame for SECONDS (default {VIDEO_TIMEOUT:g}; 0: never)",
    )  # fmt: skip


def _reencode(args: argparse.Namespace) -> int:
    tune = None if args.tune in (None, "", "none") else args.tune
    settings = EncodeSettings(args.short_side, args.keyint, args.bframes, tune, args.crf, args.preset)
    if not args.video_timeout >= 0:
        raise ConfigError(
            f"--video-timeout {args.video_timeout} is not allowed: seconds, 0 or more (0: no limit)"
        )
    if not os.path.isdir(args.root):
        raise ConfigError(f"--root {args.root} is not a directory")
    summary = reencode_dataset(
        args.dataset, args.root, args.reencode, settings, args.workers, args.split, args.video_timeout or None
    )
    return 1 if summary["problems"] else 0
