"""Per-core decode and loader rates for each backend, on original files and on the re-encoded copy.

Used by `scripts/benchmark.py data` (videomae.benchmarks.data). Everything here runs in this
process on one thread (pin it to one core with `taskset -c N`), so the rates are per core:

- windows/s: `VideoDecoder.read` of one random 16 x 4 training window at the loader's decode size,
  nothing else (the decode alone);
- clips/s at num_sample N: the whole pre-training item (decode, N multi-scale crops and flips,
  collate) through a DataLoader without workers; items/s = clips/s / N;
- cores per GPU: the stated model speed (--gpu-clips-per-s) over clips/s per core.
"""

import hashlib
import os
import random
import time
from collections.abc import Callable

import numpy as np
import torch

from videomae.data.dataset import VideoClipDataset
from videomae.data.decoders import BACKENDS, module
from videomae.data.device_pixels import collate_windows
from videomae.data.layouts import is_video
from videomae.data.reencode import EncodeSettings, copy_target, reencode_video
from videomae.data.sampling import ClipSampler
from videomae.data.transforms import PretrainTransform
from videomae.data.video import VideoDecoder, VideoReadError


def find_videos(directory: str, limit: int | None = None) -> list[str]:
    """The readable video files under `directory` (recursively, sorted), at most `limit`; the
    unreadable ones are said and left out (the timings are of decoding, not of skipping)."""
    walk = os.walk(directory, followlinks=True)
    found = sorted(os.path.join(d, f) for d, _, files in walk for f in files if is_video(f))
    decoder = VideoDecoder(timeout=30)
    readable: list[str] = []
    for path in found:
        if limit and len(readable) >= limit:
            break
        try:
            decoder.read(path, lambda n: np.array([0, n - 1]))
            readable.append(path)
        except VideoReadError as err:
            print(f"left out (unreadable): {err}")
    if not readable:
        raise SystemExit(f"--videos-dir {directory}: no readable video files there")
    return readable


def reencoded_copy(paths: list[str], cache_dir: str, settings: EncodeSettings) -> list[str]:
    """The copy `prepare_dataset.py --reencode` would write of each video, made once and cached,
    one distinct path per input path (as the input's aliases are); videos that cannot be read are
    left out (and said)."""
    opts = settings.x264_options()
    tag = f"copy-s{settings.short_side}-k{settings.keyint}-b{settings.bframes}-{settings.tune or 'none'}"
    directory = os.path.join(os.path.expanduser(cache_dir), f"{tag}-crf{settings.crf}-{opts['preset']}")
    os.makedirs(os.path.join(directory, "links"), exist_ok=True)
    copies: dict[str, str | None] = {}
    out = []
    for i, path in enumerate(paths):
        real = os.path.realpath(path)
        if real not in copies:
            digest = hashlib.sha1(real.encode()).hexdigest()[:10]
            dst = os.path.join(directory, f"{digest}-{os.path.basename(copy_target(real))}")
            copies[real] = dst
            if not os.path.isfile(dst):
                try:
                    reencode_video(real, dst, settings)
                except Exception as err:
                    print(f"skipped (unreadable): {path}: {err}")
                    copies[real] = None
        copy = copies[real]
        if copy is None:
            continue
        alias = os.path.join(directory, "links", f"{i:05d}-{os.path.basename(copy)}")
        if not os.path.islink(alias):
            os.symlink(copy, alias)
        out.append(alias)
    return out


def available_backends(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """(usable backends, {unusable: why})."""
    usable: list[str] = []
    why: dict[str, str] = {}
    for name in names:
        if name not in BACKENDS:
            raise SystemExit(f"--backends: {name!r} is not one of {', '.join(BACKENDS)}")
        reason = module(name).missing()
        (why.__setitem__(name, reason) if reason else usable.append(name))
    return usable, why


def decode_rate(
    paths: list[str], backend: str, sampler: ClipSampler, short_side: int, seconds: float, seed: int = 0
) -> tuple[int, float]:
    """(windows, seconds): random windows of random videos, decoded only."""
    decoder = VideoDecoder(backend=backend)
    rng = np.random.default_rng(seed)
    order = [paths[i] for i in rng.permutation(len(paths))]
    decoder.read(order[0], lambda n: sampler(n, rng), short_side)  # warm-up (imports, first open)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        decoder.read(order[count % len(order)], lambda n: sampler(n, rng), short_side)
        count += 1
    return count, time.perf_counter() - start


def loader_rate(
    paths: list[str], backend: str, sampler, transform, short_side: int, num_sample: int, batch_clips: int,
    seconds: float, measure: Callable,
) -> tuple[int, float]:  # fmt: skip
    """(clips, seconds) of the pre-training loader, in this process (`backend+device`: with
    data.device_transforms, the loader's part of it)."""
    backend, _, device = backend.partition("+")
    dataset = VideoClipDataset(
        [(p, 0) for p in paths], sampler, transform, num_sample, decoder=VideoDecoder(backend=backend),
        short_side=short_side, defer_pixels=bool(device),
    )  # fmt: skip
    collate = collate_windows if device else None
    return measure(dataset, max(1, batch_clips // num_sample), 0, seconds, 1, collate)


def backend_table(
    file_sets: dict[str, list[str]],
    backends: list[str],
    args,
    measure: Callable,
    baseline: Callable | None = None,
) -> dict[str, dict[str, dict]]:
    """{files: {backend: rates}}; every (files, backend, metric) takes turns, round after round,
    so that drift in machine load hits them alike. `baseline(paths)`: the original-style dataset,
    measured as one more row (one clip per decode, so only num_sample 1)."""
    sampler = ClipSampler(args.num_frames, "dense", args.sampling_rate, "original", pretrain=True)
    transform = PretrainTransform(args.input_size)
    short_side = int(np.ceil(args.input_size / min(transform.crop.scales)))
    keys = ["windows", *(int(n) for n in str(args.num_samples).split(","))]

    def run(paths: list[str], backend: str, key, r: int) -> tuple[int, float]:
        random.seed(r)
        if backend == "baseline":
            assert baseline is not None  # the baseline row is run only when a baseline is given
            return measure(baseline(paths), args.batch_size, 0, args.seconds, 1)
        if key == "windows":
            return decode_rate(paths, backend.partition("+")[0], sampler, short_side, args.seconds, r)
        return loader_rate(
            paths, backend, sampler, transform, short_side, key, args.batch_size, args.seconds, measure
        )

    totals: dict[tuple, list[float]] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as in a loader worker
    for r in range(args.rounds):
        for files, paths in file_sets.items():
            device = [f"{b}+device" for b in backends] if getattr(args, "device_transforms", False) else []
            for backend in backends + device + (["baseline"] if baseline else []):
                for key in keys if backend != "baseline" else [1]:
                    if backend.endswith("+device") and key == "windows":
                        continue  # the same decode as the backend's own row
                    done, spent = run(paths, backend, key, r)
                    total = totals.setdefault((files, backend, key), [0, 0.0])
                    total[0], total[1] = total[0] + done, total[1] + spent
    torch.set_num_threads(threads)
    table: dict[str, dict[str, dict]] = {}
    for (files, backend, key), (count, elapsed) in totals.items():
        row = table.setdefault(files, {}).setdefault(backend, {})
        rate = count / elapsed
        if key == "windows":
            row["windows_per_s"] = round(rate, 2)
        else:
            row[f"clips_per_s_ns{key}"] = round(rate, 2)
            row[f"cores_per_gpu_ns{key}"] = round(args.gpu_clips_per_s / rate, 1)
    return table


def print_backend_table(table: dict, args, skipped: dict[str, str]) -> None:
    samples = [int(n) for n in str(args.num_samples).split(",")]
    window = f"{args.num_frames} x {args.sampling_rate} windows at {args.input_size} px"
    print(f"\nper core (one thread), {window}; cores per GPU at {args.gpu_clips_per_s:g} clips/s")
    head = f"{'files':10s} {'backend':17s} {'windows/s':>9s}"
    head += "".join(f" {f'clips/s ns={n}':>13s} {'cores':>6s}" for n in samples)
    print(head)
    for files, rows in table.items():
        for backend, row in rows.items():
            windows = row.get("windows_per_s")
            line = f"{files:10s} {backend:17s} " + (f"{windows:9.2f}" if windows else f"{'-':>9s}")
            for n in samples:
                if f"clips_per_s_ns{n}" in row:
                    line += f" {row[f'clips_per_s_ns{n}']:13.2f} {row[f'cores_per_gpu_ns{n}']:6.1f}"
                else:
                    line += f" {'-':>13s} {'-':>6s}"
            print(line)
    for name, why in skipped.items():
        print(f"({name} not measured: {why})")
    if any("baseline" in rows for rows in table.values()):
        print("baseline: the original-style loader (decord, a new reader and one clip per decode, PIL crops)")


def parse_encoding(spec: str, short_side: int) -> EncodeSettings:
    """`k32-b3-fd`: keyint 32, 3 B-frames, tune fastdecode (`none`: no tune)."""
    keyint, bframes = 32, 3
    tune: str | None = "fastdecode"
    for token in spec.split("-"):
        if token[0] == "k" and token[1:].isdigit():
            keyint = int(token[1:])
        elif token[0] == "b" and token[1:].isdigit():
            bframes = int(token[1:])
        elif token in ("fd", "none"):
            tune = "fastdecode" if token == "fd" else None
        else:
            raise SystemExit(f"--encodings: cannot read {token!r} in {spec!r} (e.g. k32-b3-fd, k16-b0-none)")
    return EncodeSettings(short_side=short_side, keyint=keyint, bframes=bframes, tune=tune)


def encoding_sweep(paths: list[str], specs: list[str], backends: list[str], args) -> dict[str, dict]:
    """{encoding: {kB per video, windows/s per backend}} over copies of `paths` (cached)."""
    sampler = ClipSampler(args.num_frames, "dense", args.sampling_rate, "original", pretrain=True)
    short_side = int(np.ceil(args.input_size / 0.66))
    sets = {"original": paths}
    for spec in specs:
        sets[spec] = reencoded_copy(paths, args.cache_dir, parse_encoding(spec, args.copy_short_side))
    totals: dict[tuple, list[float]] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for r in range(args.rounds):
        for spec, files in sets.items():
            for backend in backends:
                done, spent = decode_rate(files, backend, sampler, short_side, args.seconds, r)
                total = totals.setdefault((spec, backend), [0, 0.0])
                total[0], total[1] = total[0] + done, total[1] + spent
    torch.set_num_threads(threads)
    table = {}
    for spec, files in sets.items():
        row = {"kB_per_video": round(sum(os.path.getsize(f) for f in files) / len(files) / 1000, 1)}
        for backend in backends:
            count, elapsed = totals[spec, backend]
            row[f"{backend}_windows_per_s"] = round(count / elapsed, 2)
        table[spec] = row
    return table


def print_sweep(table: dict[str, dict], backends: list[str]) -> None:
    print("\nencoding trade-off: decoded windows/s per core (decode only) and size")
    print(f"{'encoding':14s} {'kB/video':>9s}" + "".join(f" {b:>11s}" for b in backends))
    for spec, row in table.items():
        print(
            f"{spec:14s} {row['kB_per_video']:9.1f}"
            + "".join(f" {row[f'{b}_windows_per_s']:11.2f}" for b in backends)
        )
