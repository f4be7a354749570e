"""Dense features for temporal action detection: a `num_frames` window (every `sampling_rate`-th
frame) slid over each whole video with a `stride` of frames, one feature per window, one `.npy`
per video (ActionFormer-style codebases read `<video>.npy` of shape (windows, dim)), plus an
index (`index.csv`, `index.json`). Frames: short side to `input_size`, centre crop.

Windows start at 0, stride, 2 stride, ... while the window fits in the video; a video shorter
than one window gets one window, its last frame repeated. Window w covers frames
[w * stride, w * stride + num_frames * sampling_rate). Resumable: a video whose `.npy` exists is
skipped (files are written whole or not at all). `shard=(i, n)` takes every n-th video from i, for
several processes or GPUs over one dataset (each writes its own videos; the index is rebuilt
from the files by every process at its end).
"""

import csv
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from videomae.data.transforms import resize_short_side, spatial_crops
from videomae.data.video import VideoDecoder, VideoReadError
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import IMAGENET_MEAN, IMAGENET_STD, normalize_uint8

INDEX_FIELDS = ["video", "label", "feature_file", "windows", "num_video_frames", "stride", "window_frames"]


def window_starts(num_video_frames: int, span: int, stride: int) -> list[int]:
    """First frame of each window of `span` frames slid by `stride` (one window when too short)."""
    if num_video_frames <= span:
        return [0]
    return list(range(0, num_video_frames - span + 1, stride))


def window_indices(
    starts: list[int], num_frames: int, sampling_rate: int, num_video_frames: int
) -> np.ndarray:
    """(windows, num_frames) frame indices, clamped to the video's last frame."""
    steps = np.arange(num_frames) * sampling_rate
    return np.minimum(np.asarray(starts)[:, None] + steps[None], num_video_frames - 1)


def feature_name(path: str, root: str) -> str:
    """The video's path under `root`, extension dropped, '/' as '__': unique and flat."""
    rel = os.path.relpath(path, root) if path.startswith(root) else os.path.basename(path)
    return os.path.splitext(rel)[0].replace(os.sep, "__") + ".npy"


class DenseExtractor:
    """`featurize(videos (B, C, T, H, W) normalized) -> (B, ...)` over the windows of each video."""

    def __init__(self, featurize: Callable[[torch.Tensor], torch.Tensor], num_frames: int, sampling_rate: int,
                 stride: int, input_size: int, batch_size: int = 8, device: str | torch.device = "cpu",
                 decoder: VideoDecoder | None = None,
                 stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None):  # fmt: skip
        if stride < 1:
            raise ConfigError(f"stride={stride}: a number of frames, at least 1")
        self.featurize = featurize
        self.num_frames, self.sampling_rate, self.stride = num_frames, sampling_rate, stride
        self.input_size, self.batch_size, self.device = input_size, batch_size, device
        self.decoder = decoder or VideoDecoder(timeout=None)
        self.stats = stats or (IMAGENET_MEAN, IMAGENET_STD)  # the model's pixel mean and std

    def frames_of(self, path: str, indices: np.ndarray) -> torch.Tensor:
        frames = self.decoder.read(path, lambda n: indices, short_side=self.input_size)  # (W, T, H, W, C)
        video = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)  # (W, T, C, H, W)
        video = resize_short_side(video, self.input_size)
        (crop,) = spatial_crops(video, self.input_size, 1)
        return crop.transpose(1, 2)  # (W, C, T, size, size)

    @torch.no_grad()
    def video(self, path: str) -> tuple[np.ndarray, int]:
        """(windows, ...) float32 features of one video, and its frame count."""
        counted: list[int] = []

        def first_frame(n: int) -> np.ndarray:  # the decoder says how many frames the video has
            counted.append(n)
            return np.zeros(1, dtype=np.int64)

        self.decoder.read(path, first_frame)
        total = counted[0]
        starts = window_starts(total, self.num_frames * self.sampling_rate, self.stride)
        parts = []
        for i in range(0, len(starts), self.batch_size):
            indices = window_indices(
                starts[i : i + self.batch_size], self.num_frames, self.sampling_rate, total
            )
            clips = normalize_uint8(self.frames_of(path, indices).to(self.device), *self.stats)
            parts.append(self.featurize(clips).float().cpu())
        return torch.cat(parts).numpy(), total


def run_dense(extractor: DenseExtractor, samples: list[tuple[str, int]], root: str, out_dir: str,
              meta: dict, shard: tuple[int, int] = (0, 1), every_s: float = 30.0) -> dict:  # fmt: skip
    """Write `<out_dir>/<name>.npy` for each video of this shard (skipping those already there),
    then the index. Returns counts and the unreadable videos."""
    os.makedirs(out_dir, exist_ok=True)
    mine = samples[shard[0] :: shard[1]]
    todo = [(p, y) for p, y in mine if not os.path.isfile(os.path.join(out_dir, feature_name(p, root)))]
    print(
        f"dense features: {len(mine)} videos in this shard, {len(mine) - len(todo)} already done", flush=True
    )
    started, last, windows, failed = time.perf_counter(), time.perf_counter(), 0, []
    for done, (path, _) in enumerate(todo, start=1):
        try:
            features, total = extractor.video(path)
        except VideoReadError as err:
            failed.append(str(err))
            continue
        target = os.path.join(out_dir, feature_name(path, root))
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, features)
        with open(target + ".frames", "w") as f:  # the frame count, for the index
            f.write(str(total))
        windows += len(features)
        now = time.perf_counter()
        if now - last >= every_s or done == len(todo):
            rate = windows / max(now - started, 1e-9)
            left = (len(todo) - done) * (now - started) / done
            per_s = done / max(now - started, 1e-9)
            print(f"  {done}/{len(todo)} videos, {windows} windows, {rate:.1f} windows/s, "
                  f"{per_s:.2f} videos/s, ETA {left:.0f} s", flush=True)  # fmt: skip
            last = now
    for line in failed:
        print(f"skipped unreadable video {line}", file=sys.stderr)
    index = write_index(samples, root, out_dir, meta)
    return {"videos": len(todo) - len(failed), "windows": windows, "failed": failed, "index": index}


def write_index(samples: list[tuple[str, int]], root: str, out_dir: str, meta: dict) -> str:
    """index.csv (one row per video whose features exist) and index.json (how they were made)."""
    rows = []
    for path, label in samples:
        name = feature_name(path, root)
        target = os.path.join(out_dir, name)
        if not os.path.isfile(target):
            continue
        shape = np.load(target, mmap_mode="r").shape
        frames = open(target + ".frames").read().strip() if os.path.isfile(target + ".frames") else ""
        rows.append([os.path.relpath(path, root) if path.startswith(root) else path, label, name, shape[0],
                     frames, meta["stride"], meta["num_frames"] * meta["sampling_rate"]])  # fmt: skip
    path = os.path.join(out_dir, "index.csv")
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(INDEX_FIELDS)
        writer.writerows(rows)
    with atomic_path(os.path.join(out_dir, "index.json")) as tmp, open(tmp, "w") as f:
        json.dump({**meta, "videos": len(rows)}, f, indent=1)
    return path
