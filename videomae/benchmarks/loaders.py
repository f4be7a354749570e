"""The data benchmark's loaders section: our pre-training loader against the original-style one, on
one core and with loader workers."""

import os
from collections.abc import Callable
from typing import TypedDict

from torch.utils.data import Dataset

from videomae.benchmarks import decoding
from videomae.benchmarks.baseline import OriginalStyleDataset, decord_missing
from videomae.benchmarks.timing import measure
from videomae.data.dataset import VideoClipDataset
from videomae.data.reencode import EncodeSettings
from videomae.data.sampling import ClipSampler
from videomae.data.transforms import PretrainTransform
from videomae.data.video import VideoDecoder, decode_short_side

# a loader to time: () -> (dataset, clips per batch)
LoaderMaker = Callable[[], tuple[Dataset, int]]


class LoaderSummary(TypedDict, total=False):
    """The loaders section (the ratios only when both ours and the baseline were measured)."""

    clip: str
    num_sample: int
    workers: int
    backend: str
    ours_on_copy: bool
    results: dict[str, dict[str, float]]  # {loader: {clips_per_s_...: rate}}
    ratio_one_core: float
    ratio_workers: float


def _loader_makers(args, paths: list[str], ours_paths: list[str]) -> dict[str, LoaderMaker]:
    sampler = ClipSampler(args.num_frames, "dense", args.sampling_rate)
    transform = PretrainTransform(args.input_size)
    short_side = decode_short_side(args.input_size, transform.crop.scales)

    def ours(num_sample):
        samples = [(p, 0) for p in ours_paths]
        dataset = VideoClipDataset(
            samples,
            sampler,
            transform,
            num_sample,
            decoder=VideoDecoder(backend=args.ours_backend),
            short_side=short_side,
        )
        return dataset, max(1, args.batch_size // num_sample)

    return {
        "ours": lambda: ours(args.num_sample),
        "ours1": lambda: ours(1),
        "baseline": lambda: (
            OriginalStyleDataset(paths, args.num_frames, args.sampling_rate, args.input_size),
            args.batch_size,
        ),
    }


def _loader_names(parser, args, loaders: dict[str, LoaderMaker]) -> list[str]:
    """The --loaders to time (the baseline left out, and said, without decord)."""
    names = [n.strip() for n in args.loaders.split(",") if n.strip()]
    if decord_missing() and "baseline" in names:
        print(f"(baseline not measured: {decord_missing()})")
        names.remove("baseline")
    unknown = [n for n in names if n not in loaders]
    if unknown:
        parser.error(f"unknown loaders {unknown}; choose from {', '.join(loaders)}")
    return names


def _time_loaders(names: list[str], loaders: dict[str, LoaderMaker], args) -> dict[str, dict[str, float]]:
    """{loader: clips/s on one core, with --workers and per worker}."""
    # Each loader on one core (in this process) and with --workers loader processes; the loaders
    # take turns, round after round, so that drift in machine load hits them alike.
    settings = [("core", 0), ("workers", args.workers)]
    totals = {(name, key): [0, 0.0] for name in names for key, _ in settings}
    for _ in range(args.rounds):
        for key, workers in settings:
            for name in names:
                dataset, batch = loaders[name]()
                clips, seconds = measure(dataset, batch, workers, args.seconds, args.warmup_batches)
                totals[name, key][0] += clips
                totals[name, key][1] += seconds
    results: dict[str, dict[str, float]] = {}
    for name in names:
        core = totals[name, "core"][0] / totals[name, "core"][1]
        total = totals[name, "workers"][0] / totals[name, "workers"][1]
        results[name] = {
            "clips_per_s_one_core": round(core, 2),
            "clips_per_s_workers": round(total, 2),
            "clips_per_s_per_worker": round(total / max(args.workers, 1), 2),
        }
    return results


def loader_comparison(parser, args, paths: list[str], source: str) -> LoaderSummary:
    """Ours (default backend) against the original-style loader, on one core and with workers;
    with --ours-on-copy ours reads the re-encoded copy (`prepare_dataset.py --reencode`'s
    defaults, at --copy-short-side) and the baseline the untouched files."""
    ours_paths = paths
    if args.ours_on_copy:
        ours_paths = decoding.reencoded_copy(
            paths, args.cache_dir, EncodeSettings(short_side=args.copy_short_side)
        )
        source += "; ours on their re-encoded copy, the baseline on the untouched files"
    loaders = _loader_makers(args, paths, ours_paths)
    results = _time_loaders(_loader_names(parser, args, loaders), loaders, args)
    summary: LoaderSummary = {
        "clip": f"{args.num_frames} x {args.sampling_rate} -> {args.input_size} px, multi-scale crop",
        "num_sample": args.num_sample,
        "workers": args.workers,
        "backend": VideoDecoder(backend=args.ours_backend).backend_name,
        "ours_on_copy": bool(args.ours_on_copy),
        "results": results,
    }
    if "ours" in results and "baseline" in results:
        ours_r, base_r = results["ours"], results["baseline"]
        summary["ratio_one_core"] = round(ours_r["clips_per_s_one_core"] / base_r["clips_per_s_one_core"], 2)
        summary["ratio_workers"] = round(ours_r["clips_per_s_workers"] / base_r["clips_per_s_workers"], 2)
    if not args.json:
        _print_loaders(summary, args, source)
    return summary


def _print_loaders(summary: LoaderSummary, args, source: str) -> None:
    print(f"{source}; clip {summary['clip']}; {args.rounds} rounds of {args.seconds:g} s")
    print(f"{'clips/s':22s} {'1 core':>8s} {f'{args.workers} workers':>10s} {'per worker':>11s}")
    for name, r in summary["results"].items():
        label = {"ours": f"ours (num_sample={args.num_sample})", "ours1": "ours (num_sample=1)"}.get(
            name, name
        )
        print(
            f"{label:22s} {r['clips_per_s_one_core']:8.2f} {r['clips_per_s_workers']:10.2f} "
            f"{r['clips_per_s_per_worker']:11.2f}"
        )
    if "ratio_one_core" in summary:
        print(
            f"ours ({summary['backend']}{', copy' if summary['ours_on_copy'] else ''}) / baseline: "
            f"{summary['ratio_one_core']:.2f}x on one core, "
            f"{summary['ratio_workers']:.2f}x with {args.workers} workers on {os.cpu_count()} cores"
        )
