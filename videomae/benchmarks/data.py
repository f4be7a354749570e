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
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from videomae.benchmarks import decoding
from videomae.data.dataset import VideoClipDataset
from videomae.data.decoders import decord as decord_backend
from videomae.data.reencode import EncodeSettings
from videomae.data.sampling import ClipSampler
from videomae.data.transforms import PretrainTransform
from videomae.data.video import VideoDecoder, decode_short_side
from videomae.pixels import IMAGENET_MEAN as MEAN
from videomae.pixels import IMAGENET_STD as STD

# the encodings section's copies: keyframe interval, B-frames, x264's fastdecode tune or none
ENCODINGS = ",".join(
    ["k250-b3-none", "k16-b0-none", "k16-b0-fd", "k16-b3-fd", "k32-b3-none", "k32-b3-fd"]
    + ["k64-b3-none", "k64-b3-fd", "k128-b3-fd", "k250-b3-fd"]
)


def decord_missing() -> str | None:
    return decord_backend.missing()


class LoaderSummary(TypedDict, total=False):
    """The loaders section (the ratios only when both ours and the baseline were measured)."""

    clip: str
    num_sample: int
    workers: int
    backend: str
    results: dict[str, dict[str, float]]  # {loader: {clips_per_s_...: rate}}
    ratio_one_core: float
    ratio_workers: float


class DataSummary(LoaderSummary, total=False):
    """What `main` returns (and prints with --json): the source, then each section's keys."""

    videos: str
    cores: int | None
    copy: dict[str, str | int]  # the copy's x264 options and short side
    backends: dict[str, dict[str, dict]]  # decoding.backend_table
    not_measured: dict[str, str]  # {backend or loader: why}
    gpu_clips_per_s: float
    encodings: dict[str, dict]  # decoding.encoding_sweep


# --- videos -------------------------------------------------------------------------------------


def _write_bench_video(path: str, width: int, height: int, seconds: float, fps: int, seed: int) -> None:
    """A camera panning over a textured scene, a moving block and sensor noise: content that
    compresses like real footage (a few hundred kbit/s at 320p), not like a flat synthetic clip."""
    import av
    from PIL import Image

    # numpy and PIL only: this runs in forked processes, where torch's thread pool is not safe
    rng = np.random.default_rng(seed)
    scene_h, scene_w = height * 2, width * 2
    coarse = rng.uniform(0, 255, (scene_h // 16 + 2, scene_w // 16 + 2, 3)).astype(np.uint8)
    scene = np.asarray(
        Image.fromarray(coarse).resize((scene_w, scene_h), Image.Resampling.BICUBIC), dtype=np.float32
    )
    scene = np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
    noise = rng.integers(-6, 7, (16, height, width, 3), dtype=np.int16)
    color = rng.uniform(0, 255, 3).astype(np.uint8)
    vx, vy = rng.uniform(0.5, 1.5, 2) * rng.choice([-1, 1], 2)
    tmp = f"{path}.tmp.mp4"
    with av.open(tmp, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast"}
        for t in range(int(seconds * fps)):
            y = int(height / 2 + (height / 2 - 1) * np.sin(t * 0.01 * vy + 1))
            x = int(width / 2 + (width / 2 - 1) * np.sin(t * 0.01 * vx))
            frame = scene[y : y + height, x : x + width].astype(np.int16) + noise[t % 16]
            bx = (t * 3) % (width - height // 5)
            frame[height // 3 : height // 3 + height // 5, bx : bx + height // 5] = color
            frame = np.clip(frame, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


def bench_videos(
    cache_dir: str, count: int, short_side: int, seconds: float, fps: int, workers: int
) -> list[str]:
    """Paths to `count` generated videos (16:9, `short_side` high), made once and cached."""
    width = int(round(short_side * 16 / 9 / 2)) * 2
    directory = os.path.join(
        os.path.expanduser(cache_dir), f"bench2-{width}x{short_side}-{seconds:g}s-{fps}fps"
    )
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"video{i:03d}.mp4") for i in range(count)]
    todo = [(p, i) for i, p in enumerate(paths) if not os.path.isfile(p)]
    if todo:
        print(
            f"generating {len(todo)} videos {width}x{short_side}, {seconds:g} s, {fps} fps in {directory} ..."
        )
        with ProcessPoolExecutor(max(1, workers)) as pool:
            jobs = [pool.submit(_write_bench_video, p, width, short_side, seconds, fps, i) for p, i in todo]
            for job in jobs:
                job.result()
    # Many distinct paths (symlinks) over the few videos, so that the loader meets a path it has
    # not seen before about as often as in a real first epoch (no per-path cache helps it).
    links = os.path.join(directory, "links")
    os.makedirs(links, exist_ok=True)
    aliases = []
    for k in range(max(count, 512)):
        alias = os.path.join(links, f"clip{k:04d}.mp4")
        if not os.path.islink(alias):
            os.symlink(paths[k % count], alias)
        aliases.append(alias)
    return aliases


# --- the baseline: loading like the original code -------------------------------------------------


class OriginalStyleDataset(Dataset):
    """The original pre-training path, re-implemented here: per clip a new decord VideoReader,
    TSN-style offsets (one segment, `num_frames` frames `sampling_rate` apart), one get_batch,
    then per frame: PIL image, multi-scale crop and bilinear resize; stack, float / 255,
    per-channel normalise, (C, T, H, W) float32, plus a numpy tube mask."""

    def __init__(self, paths, num_frames=16, sampling_rate=4, input_size=224, mask_ratio=0.9):
        self.paths = paths
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.scales = (1, 0.875, 0.75, 0.66)
        tokens = (input_size // 16) ** 2
        self.mask_tokens = (tokens, int(mask_ratio * tokens), num_frames // 2)

    def __len__(self):
        return len(self.paths)

    def _indices(self, length):
        skip = self.num_frames * self.sampling_rate
        if length - skip + 1 > 0:
            offset = random.randint(0, length - skip)
        else:
            offset = 0
        ids = []
        for i in range(self.num_frames):
            frame = offset + i * self.sampling_rate
            ids.append(frame if frame < length else length - 1)
        return ids

    def _crop_params(self, width, height):
        base = min(width, height)
        sizes = [int(base * s) for s in self.scales]
        sizes = [self.input_size if abs(s - self.input_size) < 3 else s for s in sizes]
        pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= 1]
        crop_w, crop_h = random.choice(pairs)
        sw, sh = (width - crop_w) // 4, (height - crop_h) // 4
        grid = [
            (0, 0),
            (4, 0),
            (0, 4),
            (4, 4),
            (2, 2),
            (0, 2),
            (4, 2),
            (2, 4),
            (2, 0),
            (1, 1),
            (3, 1),
            (1, 3),
            (3, 3),
        ]
        gx, gy = random.choice(grid)
        return crop_w, crop_h, gx * sw, gy * sh

    def __getitem__(self, index):
        import decord
        from PIL import Image

        reader = decord.VideoReader(self.paths[index], num_threads=1, ctx=decord.cpu(0))
        frames = reader.get_batch(self._indices(len(reader))).asnumpy()
        images = [Image.fromarray(frames[i]).convert("RGB") for i in range(frames.shape[0])]
        crop_w, crop_h, left, top = self._crop_params(*images[0].size)
        size = (self.input_size, self.input_size)
        images = [
            im.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.BILINEAR)
            for im in images
        ]
        stacked = np.concatenate([np.asarray(im) for im in images], axis=2)
        clip = torch.from_numpy(stacked).permute(2, 0, 1).contiguous().float().div(255.0)
        for channel, mean, std in zip(clip, MEAN * self.num_frames, STD * self.num_frames, strict=True):
            channel.sub_(mean).div_(std)
        clip = clip.view(self.num_frames, 3, *size).transpose(0, 1)
        tokens, masked, slots = self.mask_tokens
        mask = np.hstack([np.zeros(tokens - masked), np.ones(masked)])
        np.random.shuffle(mask)
        return clip, np.tile(mask, (slots, 1)).flatten()


# --- timing -------------------------------------------------------------------------------------


def _clips_in(batch) -> int:
    if isinstance(batch, dict) and "crops" in batch:  # data.device_transforms: clips still to make
        return batch["crops"].shape[0] * batch["crops"].shape[1]
    if isinstance(batch, dict):
        video = batch["video"]
        return video.shape[0] * (video.shape[1] if video.ndim == 6 else 1)
    return batch[0].shape[0]


class _Cycle(Dataset):
    """Repeats a dataset to `length` items so a timed run never runs out."""

    def __init__(self, dataset, length):
        self.dataset, self.length = dataset, length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return self.dataset[index % len(self.dataset)]


def _seed_worker(worker: int) -> None:
    random.seed(1000 + worker)
    np.random.seed(1000 + worker)


def measure(
    dataset, batch_size: int, workers: int, seconds: float, warmup_batches: int, collate_fn=None
) -> tuple[int, float]:
    """(clips, seconds) over a timed window; workers=0 loads in this process on one thread."""
    threads = torch.get_num_threads()
    if workers == 0:
        torch.set_num_threads(1)  # one core, as in a loader worker
    loader = DataLoader(
        _Cycle(dataset, 10**7),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        worker_init_fn=_seed_worker,
        collate_fn=collate_fn,
    )
    it = iter(loader)
    for _ in range(warmup_batches):
        next(it)
    clips, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        clips += _clips_in(next(it))
    elapsed = time.perf_counter() - start
    del it
    torch.set_num_threads(threads)
    return clips, elapsed


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
    add("--no-copy", action="store_true", help="backends section: original files only, no re-encoded copy")
    add("--copy-short-side", type=int, default=320, help="short side of the re-encoded copy (default 320)")
    add("--encodings", default=ENCODINGS,
        help="encodings section: copies to compare (kKEYINT-bBFRAMES-fd|none)")  # fmt: skip
    add("--cache-dir", default=os.path.join(tempfile.gettempdir(), "videomae-bench"),
        help="where generated videos and copies are kept (default: $TMPDIR/videomae-bench)")  # fmt: skip
    add("--json", action="store_true", help="print one JSON object instead of tables")
    return parser


def main(argv: list[str] | None = None) -> DataSummary:
    parser = _parser()
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"loaders", "backends", "encodings"}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from loaders, backends, encodings")
    if args.videos_dir:
        paths = decoding.find_videos(args.videos_dir, args.max_videos)
        source = f"{len(paths)} videos from {args.videos_dir}"
    else:
        paths = bench_videos(
            args.cache_dir, args.videos, args.short_side, args.video_seconds, args.fps, args.workers
        )
        source = f"{args.videos} x {args.short_side}p 16:9 {args.video_seconds:g} s {args.fps} fps H.264"
    summary: DataSummary = {"videos": source, "cores": os.cpu_count()}
    if "loaders" in sections:
        summary.update(loader_comparison(parser, args, paths, source))
    backends, skipped = decoding.available_backends(
        [b.strip() for b in args.backends.split(",") if b.strip()]
    )
    if "backends" in sections:
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
    if "encodings" in sections:
        specs = [e.strip() for e in args.encodings.split(",") if e.strip()]
        summary["encodings"] = decoding.encoding_sweep(paths, specs, backends, args)
        if not args.json:
            decoding.print_sweep(summary["encodings"], backends)
    if args.json:
        print(json.dumps(summary, indent=1))
    sys.stdout.flush()
    return summary


def loader_comparison(parser, args, paths: list[str], source: str) -> LoaderSummary:
    """Ours (default backend) against the original-style loader, on one core and with workers."""
    sampler = ClipSampler(args.num_frames, "dense", args.sampling_rate)
    transform = PretrainTransform(args.input_size)
    short_side = decode_short_side(args.input_size, transform.crop.scales)

    def ours(num_sample):
        samples = [(p, 0) for p in paths]
        dataset = VideoClipDataset(
            samples, sampler, transform, num_sample, decoder=VideoDecoder(), short_side=short_side
        )
        return dataset, max(1, args.batch_size // num_sample)

    loaders = {
        "ours": lambda: ours(args.num_sample),
        "ours1": lambda: ours(1),
        "baseline": lambda: (
            OriginalStyleDataset(paths, args.num_frames, args.sampling_rate, args.input_size),
            args.batch_size,
        ),
    }
    names = [n.strip() for n in args.loaders.split(",") if n.strip()]
    if decord_missing() and "baseline" in names:
        print(f"(baseline not measured: {decord_missing()})")
        names.remove("baseline")
    unknown = [n for n in names if n not in loaders]
    if unknown:
        parser.error(f"unknown loaders {unknown}; choose from {', '.join(loaders)}")
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
    summary: LoaderSummary = {
        "clip": f"{args.num_frames} x {args.sampling_rate} -> {args.input_size} px, multi-scale crop",
        "num_sample": args.num_sample,
        "workers": args.workers,
        "backend": VideoDecoder().backend_name,
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
            f"ours ({summary['backend']}) / baseline: {summary['ratio_one_core']:.2f}x on one core, "
            f"{summary['ratio_workers']:.2f}x with {args.workers} workers on {os.cpu_count()} cores"
        )
