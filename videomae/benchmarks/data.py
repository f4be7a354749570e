"""Loader throughput: our pre-training loader against one that loads like the original code, and
each decoder backend on the original files and on the re-encoded copy.

    python scripts/benchmark.py data                 # defaults: about 5 minutes on 2 cores
    taskset -c 1 python scripts/benchmark.py data --workers 1   # per-core figures, pinned
    python scripts/benchmark.py data --videos-dir /data/k400/val --max-videos 32   # real footage
    python scripts/benchmark.py data --sections encodings --encodings k250-b3-none,k16-b0-none,k32-b3-fd

Both loaders read the same generated H.264 videos of Kinetics-like size (short side 320, 16:9,
10 s at 30 fps, libx264 defaults but a fast preset; cached under --cache-dir) through decord with
one decoding thread, and sample the K400 pre-training clip (16 frames x 4, multi-scale crop to 224).

- ours: VideoClipDataset as training uses it: one sorted `get_batch` per video, uint8 tensor
  transforms, `--num-sample` clips per decode, uint8 clips out (normalised later on the device).
- baseline: like the original VideoMAE pre-training loader: a new VideoReader and `get_batch` per
  clip, per-frame PIL crop and resize, float32 normalised clips (and the tube mask) out of the
  worker, one clip per decode.

Clips per second are counted over the timed window after a warm-up, in total and per worker
(total / workers: with as many workers as cores, that is per core).

The `backends` section (videomae.benchmarks.decoding) times, per core, each backend's decode of
one window alone (windows/s) and the whole loader item at num_sample 1, 2 and 4 (clips/s), on the
original files and on the copy `prepare_dataset.py --reencode` writes of them, and how many cores
one GPU needs at --gpu-clips-per-s. `encodings` times the decode against file size over
keyframe intervals, B-frames and x264 tunes.
"""

import argparse
import json
import os
import sys
import tempfile

from videomae.benchmarks import decoding
from videomae.benchmarks.baseline import OriginalStyleDataset, decord_missing
from videomae.benchmarks.footage import bench_videos
from videomae.benchmarks.loaders import LoaderSummary, loader_comparison
from videomae.benchmarks.sections import DataSummary, backends_section, bench_source, encodings_section
from videomae.benchmarks.timing import measure

__all__ = [
    "DataSummary",
    "LoaderSummary",
    "OriginalStyleDataset",
    "bench_videos",
    "decord_missing",
    "loader_comparison",
    "main",
    "measure",
]

# the encodings section's copies: keyframe interval, B-frames, x264's fastdecode tune or none
ENCODINGS = ",".join(
    ["k250-b3-none", "k16-b0-none", "k16-b0-fd", "k16-b3-fd", "k32-b3-none", "k32-b3-fd"]
    + ["k64-b3-none", "k64-b3-fd", "k128-b3-fd", "k250-b3-fd"]
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmark.py data", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--videos", type=int, default=8, help="generated videos (default 8)")
    add("--videos-dir", help="time these real videos (any under DIR) instead of generated ones")
    add("--max-videos", type=int, default=64, help="at most this many from --videos-dir (default 64)")
    add("--short-side", type=int, default=320, help="generated video height, 16:9 (default 320)")
    add("--video-seconds", type=float, default=10.0, help="generated video length (default 10)")
    add("--fps", type=int, default=30)
    add("--num-frames", type=int, default=16)
    add("--sampling-rate", type=int, default=4)
    add("--input-size", type=int, default=224)
    add("--num-sample", type=int, default=2, help="loaders section: clips per decoded video (default 2)")
    add("--batch-size", type=int, default=8, help="clips per batch (default 8)")
    add("--workers", type=int, default=os.cpu_count() or 1, help="loader workers (default: cores)")
    add("--seconds", type=float, default=8.0, help="timed window per measurement (default 8)")
    add("--rounds", type=int, default=2, help="measurements take turns this many times (default 2)")
    add("--warmup-batches", type=int, default=2, help="untimed batches per measurement")
    add(
        "--loaders", default="ours,baseline", help="comma-separated from ours, baseline, ours1 (num_sample=1)"
    )
    add("--sections", default="loaders,backends", help="comma-separated from loaders, backends, encodings")
    add("--backends", default="decord,pyav,torchcodec", help="backends section: which decoders")
    add("--num-samples", default="1,2,4", help="backends section: num_sample values (default 1,2,4)")
    add("--gpu-clips-per-s", type=float, default=1000.0, help="model speed for cores per GPU (default 1000)")
    add("--device-transforms", action="store_true", help="backends section: also each backend with "
        "data.device_transforms (the loader's part: decode, draw, pad; not the device's)")  # fmt: skip
    add("--ours-backend", default="auto", help="loaders section: our loader's data.backend (default auto)")
    add("--ours-on-copy", action="store_true", help="loaders section: ours reads the re-encoded copy, "
        "the baseline the untouched files")  # fmt: skip
    add("--no-copy", action="store_true", help="backends section: original files only, no re-encoded copy")
    add("--copy-short-side", type=int, default=320, help="short side of the re-encoded copy (default 320)")
    add("--encodings", default=ENCODINGS,
        help="encodings section: copies to compare (kKEYINT-bBFRAMES-fd|none)")  # fmt: skip
    add("--cache-dir", default=os.path.join(tempfile.gettempdir(), "videomae-bench"),
        help="where generated videos and copies are kept (default: $TMPDIR/videomae-bench)")  # fmt: skip
    add("--json", action="store_true", help="print one JSON object instead of tables")
    return parser


def _sections(parser: argparse.ArgumentParser, args) -> list[str]:
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"loaders", "backends", "encodings"}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from loaders, backends, encodings")
    return sections


def main(argv: list[str] | None = None) -> DataSummary:
    parser = _parser()
    args = parser.parse_args(argv)
    sections = _sections(parser, args)
    paths, source = bench_source(args)
    summary: DataSummary = {"videos": source, "cores": os.cpu_count()}
    if "loaders" in sections:
        summary.update(loader_comparison(parser, args, paths, source))
    backends, skipped = decoding.available_backends(
        [b.strip() for b in args.backends.split(",") if b.strip()]
    )
    if "backends" in sections:
        backends_section(args, paths, backends, skipped, summary)
    if "encodings" in sections:
        encodings_section(args, paths, backends, summary)
    if args.json:
        print(json.dumps(summary, indent=1))
    sys.stdout.flush()
    return summary
