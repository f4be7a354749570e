"""The data benchmark's sections over its videos (see videomae.benchmarks.data): what each measures,
adds to the summary and prints."""

from collections.abc import Callable

from torch.utils.data import Dataset

from videomae.benchmarks import decoding
from videomae.benchmarks.baseline import OriginalStyleDataset, decord_missing
from videomae.benchmarks.footage import bench_videos
from videomae.benchmarks.loaders import LoaderSummary
from videomae.benchmarks.timing import measure
from videomae.data.reencode import EncodeSettings


class DataSummary(LoaderSummary, total=False):
    """What `main` returns (and prints with --json): the source, then each section's keys."""

    videos: str
    cores: int | None
    copy: dict[str, str | int]  # the copy's x264 options and short side
    backends: dict[str, dict[str, dict]]  # decoding.backend_table
    not_measured: dict[str, str]  # {backend or loader: why}
    gpu_clips_per_s: float
    encodings: dict[str, dict]  # decoding.encoding_sweep


def bench_source(args) -> tuple[list[str], str]:
    """(paths, what they are): the --videos-dir videos, else the generated footage."""
    if args.videos_dir:
        paths = decoding.find_videos(args.videos_dir, args.max_videos)
        source = f"{len(paths)} videos from {args.videos_dir}"
    else:
        paths = bench_videos(
            args.cache_dir, args.videos, args.short_side, args.video_seconds, args.fps, args.workers
        )
        source = f"{args.videos} x {args.short_side}p 16:9 {args.video_seconds:g} s {args.fps} fps H.264"
    return paths, source


def backends_section(
    args, paths: list[str], backends: list[str], skipped: dict[str, str], summary: DataSummary
) -> None:
    """Each backend (and the original-style loader) on the files and on their re-encoded copy."""
    sets = {"original": paths}
    if not args.no_copy:
        settings = EncodeSettings(short_side=args.copy_short_side)
        sets["copy"] = decoding.reencoded_copy(paths, args.cache_dir, settings)
        summary["copy"] = settings.x264_options() | {"short_side": settings.short_side}
    baseline: Callable[[list[str]], Dataset] | None = lambda p: OriginalStyleDataset(  # noqa: E731
        p, args.num_frames, args.sampling_rate, args.input_size
    )
    missing = decord_missing()
    if missing:  # the original loads with decord; there is no baseline without it
        baseline, skipped = None, {**skipped, "original-style loader": missing}
    summary["backends"] = decoding.backend_table(sets, backends, args, measure, baseline)
    summary["not_measured"] = skipped
    summary["gpu_clips_per_s"] = args.gpu_clips_per_s
    if not args.json:
        decoding.print_backend_table(summary["backends"], args, skipped)


def encodings_section(args, paths: list[str], backends: list[str], summary: DataSummary) -> None:
    """Decode speed against file size over the --encodings copies."""
    specs = [e.strip() for e in args.encodings.split(",") if e.strip()]
    summary["encodings"] = decoding.encoding_sweep(paths, specs, backends, args)
    if not args.json:
        decoding.print_sweep(summary["encodings"], backends)
