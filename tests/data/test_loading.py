"""Sampling, decoding, augmentation, fault tolerance and seeding of the loaders."""

import os
import random
import re
import time
from functools import partial

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from helpers import BACKENDS, BROKEN_KINDS, TINY_SYNTHETIC, garbage_bytes, place
from lightning_fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, RandomSampler

from videomae.data import decoders
from videomae.data.annotations import read_list
from videomae.data.config import DataConfig
from videomae.data.datamodule import create_datamodule
from videomae.data.dataset import MultiViewDataset, VideoClipDataset
from videomae.data.resume import ResumableLoader, SkippingBatchSampler
from videomae.data.sampling import (
    ClipSampler,
    dense_indices,
    dense_views,
    segment_indices,
    segment_views,
    window_indices,
)
from videomae.data.synthetic import ensure_synthetic
from videomae.data.transforms import ClipRandomErasing, FinetuneTransform, PretrainTransform, spatial_crops
from videomae.data.video import VideoDecoder, VideoReadError, scaled_size
from videomae.training.callbacks import SkippedVideos
from videomae.utils.errors import ConfigError, DataError

# --- sampling -----------------------------------------------------------------------------------


def test_dense_window_and_short_video():
    rng = np.random.default_rng(0)
    index = dense_indices(300, 16, 4, rng, mode="uniform")
    assert len(index) == 16 and np.all(np.diff(index) == 4) and index[-1] < 300
    short = dense_indices(10, 16, 4, rng, mode="uniform")  # shorter than the window: n // rate frames
    assert list(short) == [0, 5] + [9] * 14  # spread over the video, then the last repeated
    assert list(dense_indices(1, 4, 2, rng, mode="uniform")) == [0, 0, 0, 0]
    # the original's fine-tuning window: start and end included, so not quite stride 4
    original = dense_indices(300, 16, 4, rng)
    assert list(np.diff(original)) == [4, 4, 4, 5] * 3 + [4, 4, 4] and original[0] <= 300 - 65
    assert list(dense_indices(10, 16, 4, rng)) == [0, 9] + [9] * 14  # linspace(0, 10, 2), clipped
    # the original's pre-training walk: stride 4 from 0, the last frame reached repeated
    assert list(dense_indices(10, 16, 4, rng, pretrain=True)) == [0, 4, 8] + [8] * 13


def test_segments_cover_the_video_and_repeat_when_short():
    rng = np.random.default_rng(0)
    for mode in ("original", "uniform"):
        index = segment_indices(160, 16, rng, mode)
        assert np.all(index // 10 == np.arange(16))  # one frame from each segment
    short = segment_indices(5, 16, rng, "uniform")
    assert len(short) == 16 and short.min() >= 0 and short.max() <= 4 and np.all(np.diff(short) >= 0)
    assert list(segment_indices(5, 16, rng)) == [0] * 16  # the original: frame 0 under 16 frames
    assert segment_indices(63, 16, rng).max() <= 47  # and integer segments of 63 // 16 = 3 frames


def test_test_views():
    views = dense_views(200, 16, 4, 5)  # the original: 50 strided frames, 5 windows evenly spaced
    assert views.shape == (5, 16) and views[0, 0] == 0 and views[-1, -1] == 196
    assert np.all(np.diff(views, axis=1) == 4)
    assert dense_views(200, 16, 4, 1)[0, 0] == 68  # one view: the centre window
    assert dense_views(20, 16, 4, 2).shape == (2, 16)  # short: padded, never skipped
    ssv2 = segment_views(32, 16, 2)  # the original's 2 SSv2 views: segment starts, then middles
    assert list(ssv2[0][:3]) == [0, 2, 4] and list(ssv2[1][:3]) == [1, 3, 5]


# --- decoding -----------------------------------------------------------------------------------


def frame_means(frames):
    return frames.reshape(frames.shape[0], -1).mean(1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoder_order_duplicates_and_reduced_size(video_bank, backend):
    decoder = VideoDecoder(backend=backend)
    frames = decoder.read(video_bank["mp4"], lambda n: np.array([7, 1, 7, 3]))
    assert frames.shape == (4, 64, 80, 3) and frames.dtype == np.uint8
    means = frame_means(frames)  # frame t has mean about 60 + 12 t
    assert np.allclose(means, 60 + 12 * np.array([7, 1, 7, 3]), atol=4)
    # the size comes from the header: decoded at the reduced size directly, from the first visit
    small = VideoDecoder(backend=backend).read(video_bank["mp4"], lambda n: np.array([7, 1]), short_side=32)
    assert small.shape == (2, 32, 40, 3)
    assert decoder.read(video_bank["mp4"], lambda n: np.array([7, 1]), short_side=32).shape == small.shape
    assert np.allclose(frame_means(small), means[:2], atol=4)
    # the original's int()
    assert scaled_size(64, 80, 64) is None and scaled_size(320, 568, 224) == (224, 397)
    assert scaled_size(568, 320, 224) == (397, 224)  # truncated, as the original and transformers
    assert scaled_size(568, 320, 224, "uniform") == (398, 224)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoder_2d_indices(video_bank, backend):
    frames = VideoDecoder(backend=backend).read(video_bank["avi"], lambda n: np.array([[0, 2], [4, 11]]))
    assert frames.shape == (2, 2, 64, 80, 3)
    assert np.allclose(frame_means(frames.reshape(4, 64, 80, 3)), 60 + 12 * np.array([0, 2, 4, 11]), atol=4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_each_broken_kind_is_a_read_error(video_bank, tmp_path, kind, backend):
    path = place(video_bank, kind, str(tmp_path / f"{kind}.mp4"))
    start = time.monotonic()
    with pytest.raises(VideoReadError, match=str(path)):
        VideoDecoder(backend=backend).read(path, lambda n: np.arange(4))
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_time_limit(video_bank, monkeypatch, backend):
    from videomae.data.decoders import module

    def stuck(path, **options):
        time.sleep(3)

    decoder = VideoDecoder(timeout=0.3, backend=backend)
    monkeypatch.setattr(module(backend), "open_video", stuck)  # a decode that hangs inside the backend
    with pytest.raises(VideoReadError, match="decoding took over 0.3 s"):
        decoder.read(video_bank["mp4"], lambda n: np.arange(2))
    monkeypatch.undo()
    assert decoder.read(video_bank["mp4"], lambda n: np.arange(2)).shape[0] == 2  # a fresh thread takes over


# --- datasets and fault tolerance ---------------------------------------------------------------------


def pretrain_dataset(samples, num_sample=1, **kw):
    return VideoClipDataset(samples, ClipSampler(4, "dense", 2), PretrainTransform(32), num_sample, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_broken_videos_are_replaced_and_reported(video_bank, tmp_path, backend):
    samples = [(place(video_bank, k, str(tmp_path / f"{k}.mp4")), 0) for k in BROKEN_KINDS]
    samples += [(video_bank["mp4"], 1)] * 5
    dataset = pretrain_dataset(samples, decoder=VideoDecoder(backend=backend))
    random.seed(0)
    seen = set()
    for index in range(len(BROKEN_KINDS)):
        item = dataset[index]
        assert item["video"].shape == (3, 4, 32, 32) and item["video"].dtype == torch.uint8
        assert item["index"] >= len(BROKEN_KINDS) and item["label"] == 1  # a good video
        lines = item["failed"].splitlines()
        assert item["skipped"] == len(lines) >= 1 and lines[0].startswith(samples[index][0] + ": ")
        seen.update(line.split(": ")[0] for line in lines)
    assert seen == {p for p, _ in samples[: len(BROKEN_KINDS)]}


def test_all_broken_stops_with_examples(video_bank, tmp_path):
    samples = [(str(tmp_path / f"missing{i}.mp4"), 0) for i in range(3)]
    with pytest.raises(
        DataError, match=r"(?s)20 videos in a row could not be read.*missing\d.mp4: no such file"
    ):
        pretrain_dataset(samples)[0]


def test_a_video_path_that_is_not_a_file_says_what_it_is(tmp_path):
    """A FIFO or a folder named like a video (a live camera feed, a half-made copy) was reported
    as 'no such file', although it is there."""
    fifo, folder = str(tmp_path / "live.mp4"), str(tmp_path / "dir.mp4")
    os.mkfifo(fifo)
    os.mkdir(folder)
    for path, kind in ((fifo, "a named pipe (FIFO)"), (folder, "a folder")):
        with pytest.raises(VideoReadError, match=f"^{re.escape(f'{path}: not a regular file ({kind})')}$"):
            VideoDecoder(timeout=5).read(path, lambda n: [0])
    with pytest.raises(VideoReadError, match=r": no such file$"):
        VideoDecoder().read(str(tmp_path / "gone.mp4"), lambda n: [0])


def test_repeated_sampling_and_short_video(video_bank):
    dataset = pretrain_dataset([(video_bank["short"], 0)], num_sample=3)
    item = dataset[0]
    assert item["video"].shape == (3, 3, 4, 32, 32)
    assert not torch.equal(item["video"][0], item["video"][1]) or not torch.equal(
        item["video"][1], item["video"][2]
    )


def test_multiview_items(video_bank):
    dataset = MultiViewDataset(
        [(video_bank["mp4_b"], 4)], ClipSampler(4, "dense", 2), 32, num_clips=2, num_crops=3
    )
    item = dataset[0]
    assert item["video"].shape == (6, 3, 4, 32, 32)
    assert item["clip_index"].tolist() == [0, 0, 0, 1, 1, 1] and item["crop_index"].tolist() == [0, 1, 2] * 2
    assert item["video_id"] == 0 and item["label"] == 4
    left, right = item["video"][0], item["video"][2]  # 96x64 video -> 48x32: crops differ along the width
    assert not torch.equal(left, right)


# --- transforms -----------------------------------------------------------------------------------


def static_clip(frames=4, size=48):
    frame = torch.randint(
        0, 256, (3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    return frame.expand(frames, 3, size, size).contiguous()


def test_finetune_transform_same_for_every_frame():
    transform = FinetuneTransform(32, rand_augment="rand-m9-n4-mstd0.5-inc1", erase_prob=0.0)
    for seed in range(5):
        random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
        out = transform(static_clip())
        assert out.shape == (4, 3, 32, 32) and out.dtype == torch.uint8
        assert all(torch.equal(out[0], out[t]) for t in range(1, 4))  # one draw for the clip


def test_random_erasing_same_region_in_every_frame():
    torch.manual_seed(0), random.seed(0)
    clip = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    out = ClipRandomErasing(prob=1.0)(clip)
    changed = (out != 0).any(1)  # (T, H, W)
    rows, cols = changed[0].any(1).nonzero(), changed[0].any(0).nonzero()
    assert len(rows) and len(cols)
    for t in range(4):
        assert changed[t].any(1).nonzero().equal(rows) and changed[t].any(0).nonzero().equal(cols)


def test_three_crops_along_the_long_side():
    clip = torch.arange(32 * 64).view(1, 1, 32, 64).expand(2, 3, 32, 64)
    crops = spatial_crops(clip, 32, 3)
    assert [c[0, 0, 0, 0].item() for c in crops] == [0, 16, 32]
    assert spatial_crops(clip, 32, 1)[0][0, 0, 0, 0].item() == 16


# --- seeding --------------------------------------------------------------------------------------


def loader_batches(dataset, rank, seed=7, workers=2, n=2):
    pl.seed_everything(seed + rank, workers=True, verbose=False)  # as PretrainModule.on_fit_start
    loader = DataLoader(
        dataset, batch_size=2, shuffle=True, num_workers=workers,
        worker_init_fn=partial(pl_worker_init_function, rank=rank) if workers else None,
    )  # fmt: skip
    it = iter(loader)
    return [next(it)["video"] for _ in range(n)]


@pytest.mark.parametrize("workers", [0, 2])
def test_seeded_loading_repeats_and_differs_per_rank_and_worker(video_bank, workers):
    dataset = pretrain_dataset([(video_bank["mp4"], 0)] * 8)  # one video: only augmentation differs
    first, again = loader_batches(dataset, 0, workers=workers), loader_batches(dataset, 0, workers=workers)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other_rank = loader_batches(dataset, 1, workers=workers)
    assert not all(torch.equal(a, b) for a, b in zip(first, other_rank, strict=True))
    if workers:  # batch 0 comes from worker 0, batch 1 from worker 1: they draw differently
        pl.seed_everything(7)
        assert not torch.equal(first[0], first[1])


# --- the datamodule ---------------------------------------------------------------------------------


def test_datamodule_modes(video_bank, tmp_path):
    for split in ("train", "val"):
        for cls in ("a", "b"):
            place(video_bank, "mp4", str(tmp_path / split / cls / "v.mp4"))
    common = dict(
        name="folder",
        root=str(tmp_path),
        num_frames=4,
        input_size=32,
        batch_size=2,
        num_workers=0,
        pin_memory=False,
    )
    dm = create_datamodule(DataConfig(test_clips=2, test_crops=3, num_sample=2, **common), "finetune")
    dm.load()
    assert dm.num_classes == 2 and dm.classes == ["a", "b"] and dm.test_batch_size == 1
    dm.setup("fit")
    dm.setup("test")
    train = next(iter(dm.train_dataloader()))
    assert train["video"].shape == (2, 2, 3, 4, 32, 32) and sorted(train["label"].tolist()) == [0, 1]
    val = next(iter(dm.val_dataloader()))
    assert val["video"].shape == (2, 3, 4, 32, 32)
    test = next(iter(dm.test_dataloader()))
    assert test["video"].shape == (1, 6, 3, 4, 32, 32) and test["crop_index"].shape == (1, 6)
    pre = create_datamodule(DataConfig(**common), "pretrain")
    pre.setup("fit")
    assert next(iter(pre.train_dataloader()))["video"].shape == (2, 3, 4, 32, 32)


def test_skipped_videos_callback_counts_and_reports(tmp_path):
    class Trainer:
        global_rank = 0

    report = tmp_path / "skipped.txt"
    callback = SkippedVideos(max_fraction=0.5, check_after=6, report_path=str(report))
    callback.update(Trainer(), {"failed": ["/d/a.mp4: empty file", ""]})
    callback.update(Trainer(), {"failed": ["", "/d/b.mp4: no such file\n/d/a.mp4: empty file"]})
    assert (callback.failed, callback.attempts) == (3, 7)  # 3 of 7 tries failed: under half
    assert report.read_text().splitlines() == ["/d/a.mp4: empty file", "/d/b.mp4: no such file"]


def test_skipped_videos_callback_error_lists_examples():
    class Trainer:
        global_rank = 0

    callback = SkippedVideos(max_fraction=0.5, check_after=4)
    callback.update(Trainer(), {"failed": ["/d/a.mp4: empty file\n/d/b.mp4: cannot decode: x", ""]})
    with pytest.raises(
        DataError, match=r"(?s)5 of 8 videos .* data.max_skip_fraction=0.5.*/d/a.mp4: empty file"
    ):
        callback.update(
            Trainer(), {"failed": ["/d/c.mp4: no such file\n/d/c.mp4: no such file\n/d/a.mp4: x"]}
        )


@pytest.mark.skipif(decoders.module("decord").missing() is not None, reason="no decord here: no baseline")
def test_data_benchmark_runs(tmp_path):
    from videomae.benchmarks.data import main

    summary = main(
        ["--videos", "2", "--short-side", "64", "--video-seconds", "1", "--fps", "10", "--num-frames", "4",
         "--sampling-rate", "2", "--input-size", "32", "--seconds", "0.3", "--rounds", "1", "--workers", "1",
         "--warmup-batches", "1", "--cache-dir", str(tmp_path), "--sections", "loaders", "--json"]
    )  # fmt: skip
    assert summary["ratio_one_core"] > 0 and summary["ratio_workers"] > 0
    assert summary["results"]["ours"]["clips_per_s_workers"] > 0
    assert "backends" not in summary  # the loader comparison only


def test_data_benchmark_loaders_ours_on_the_copy(tmp_path):
    """Issue 29's comparison: ours on the re-encoded copy, the baseline on the untouched files."""
    from videomae.benchmarks.data import decord_missing, main

    summary = main(
        ["--videos", "2", "--short-side", "64", "--video-seconds", "1", "--fps", "10", "--num-frames", "4",
         "--sampling-rate", "2", "--input-size", "32", "--seconds", "0.3", "--rounds", "1", "--workers", "1",
         "--warmup-batches", "1", "--cache-dir", str(tmp_path), "--sections", "loaders", "--num-sample", "1",
         "--ours-on-copy", "--ours-backend", "pyav", "--copy-short-side", "64", "--json"]
    )  # fmt: skip
    assert summary["ours_on_copy"] and summary["backend"] == "pyav" and summary["num_sample"] == 1
    assert summary["results"]["ours"]["clips_per_s_one_core"] > 0
    assert ("ratio_one_core" in summary) == (decord_missing() is None)
    assert list((tmp_path).glob("copy-*/*.mp4"))  # the copy ours read


def test_data_benchmark_backends_on_a_videos_dir_and_its_copy(tmp_path, video_bank):
    from videomae.benchmarks.data import decord_missing, main

    for kind in ("mp4", "mp4_b", "avi", "truncated"):  # real files of any kind, one unreadable
        place(video_bank, kind, str(tmp_path / "videos" / f"{kind}.mp4"))
    summary = main(
        ["--videos-dir", str(tmp_path / "videos"), "--num-frames", "4", "--sampling-rate", "2",
         "--input-size", "32", "--seconds", "0.2", "--rounds", "1", "--backends", "pyav",
         "--num-samples", "1,2", "--sections", "backends,encodings", "--encodings", "k4-b0-none,k8-b3-fd",
         "--copy-short-side", "64", "--device-transforms",
         "--gpu-clips-per-s", "100", "--cache-dir", str(tmp_path / "cache"), "--json"]
    )  # fmt: skip
    assert set(summary["backends"]) == {"original", "copy"}
    for files in ("original", "copy"):
        row = summary["backends"][files]["pyav"]
        assert row["windows_per_s"] > 0 and row["clips_per_s_ns2"] > 0
        assert row["cores_per_gpu_ns1"] == pytest.approx(100 / row["clips_per_s_ns1"], abs=0.06)  # rounded
        baseline = summary["backends"][files].get("baseline")  # the original-style loader: decord's
        assert (baseline is not None) == (decord_missing() is None)
        assert baseline is None or baseline["clips_per_s_ns1"] > 0
        assert summary["backends"][files]["pyav+device"]["clips_per_s_ns2"] > 0
    assert list(summary["encodings"]) == ["original", "k4-b0-none", "k8-b3-fd"]
    assert all(row["kB_per_video"] > 0 for row in summary["encodings"].values())


# --- both sampling modes: validation clips, exact resume, seeding -----------------------------------


def frame_numbers(video):
    """Frame indices of a clip of video_bank["mp4"] (frame t has mean about 60 + 12 t)."""
    return [round((m - 60) / 12) for m in video.float().mean(dim=(0, 2, 3)).tolist()]


def test_original_validation_takes_a_random_training_clip_the_same_every_pass(video_bank):
    sampler = ClipSampler(4, "dense", 2)  # 12 frames: windows start at 0..3 (the last one, 4, never)
    chosen = set()
    for seed in range(12):
        kw = dict(train=False, random_eval_clip=True, eval_seed=seed)
        dataset = VideoClipDataset([(video_bank["mp4"], 0)], sampler, lambda v: v, **kw)
        first = dataset[0]["video"]
        assert torch.equal(first, dataset[0]["video"])  # the same clip in every validation pass
        frames = frame_numbers(first)
        assert frames in [window_indices(12, s, 4, 2).tolist() for s in range(4)], frames
        chosen.add(frames[0])
    assert len(chosen) > 1  # a random window, not a fixed view
    centre = VideoClipDataset([(video_bank["mp4"], 0)], sampler, lambda v: v, train=False)
    assert frame_numbers(centre[0]["video"]) == sampler.views(12, 1)[0].tolist()


@pytest.mark.parametrize("mode", ["original", "uniform"])
def test_datamodule_sampling_mode(video_bank, tmp_path, mode):
    for split in ("train", "val"):
        for cls in ("a", "b"):
            place(video_bank, "mp4", str(tmp_path / split / cls / "v.mp4"))
    common = dict(name="folder", root=str(tmp_path), num_frames=4, sampling_rate=2, input_size=32)
    dm = create_datamodule(DataConfig(sampling_mode=mode, num_workers=0, **common), "finetune")
    dm.setup("fit")
    assert dm.train_set.sampler == ClipSampler(4, "dense", 2, mode)
    assert dm.val_set.random_eval_clip == (mode == "original") and dm.val_set.size_mode == mode
    pre = create_datamodule(DataConfig(sampling_mode=mode, num_workers=0, **common), "pretrain")
    pre.setup("fit")
    assert pre.train_set.sampler == ClipSampler(4, "dense", 2, mode, pretrain=True)
    with pytest.raises(ConfigError, match="data.sampling_mode='paper' is not one of original, uniform"):
        create_datamodule(DataConfig(sampling_mode="paper", **common), "finetune")


def resumable_batches(dataset, start, count, workers):
    """`count` batches of a training loader whose run has done `start` batches (3 per epoch)."""
    done = [start]
    generator = torch.Generator()
    loader = ResumableLoader(
        dataset,
        batch_sampler=SkippingBatchSampler(RandomSampler(dataset, generator=generator), 2, True),
        num_workers=workers,
        generator=generator,
        seed=3,
        batches_done=lambda: done[0],
    )
    batches = []
    while len(batches) < count:
        for batch in loader:
            batches.append(batch["video"])
            done[0] += 1
            if len(batches) == count:
                break
    return batches


@pytest.mark.parametrize("mode, pretrain", [("original", False), ("original", True), ("uniform", False)])
def test_resumed_loader_gives_the_same_clips_in_both_modes(video_bank, mode, pretrain):
    sampler = ClipSampler(4, "dense", 2, mode, pretrain)
    dataset = VideoClipDataset([(video_bank["mp4"], 0)] * 6, sampler, PretrainTransform(32))
    fresh = resumable_batches(dataset, 0, 6, workers=0)  # two epochs
    resumed = resumable_batches(dataset, 4, 2, workers=2)  # killed after 4 batches, other workers
    assert all(torch.equal(a, b) for a, b in zip(fresh[4:], resumed, strict=True))
    assert not torch.equal(fresh[1], fresh[4])  # epochs draw afresh


@pytest.mark.parametrize("mode", ["original", "uniform"])
def test_seeding_per_rank_and_worker_in_both_modes(video_bank, mode):
    sampler = ClipSampler(4, "dense", 2, mode)
    dataset = VideoClipDataset([(video_bank["mp4"], 0)] * 8, sampler, PretrainTransform(32))
    first, again = loader_batches(dataset, 0), loader_batches(dataset, 0)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, loader_batches(dataset, 1), strict=True))


def test_dense_sampling_windows_and_short_videos():
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = dense_indices(300, 16, 4, rng, mode="uniform")
        assert len(idx) == 16 and idx.min() >= 0 and idx.max() < 300
        assert (np.diff(idx) == 4).all()
    short = dense_indices(20, 16, 4, rng, mode="uniform")  # shorter than the window: spread, last repeated
    assert len(short) == 16 and short[0] == 0 and (short[5:] == 19).all()
    assert list(short[:5]) == [0, 4, 8, 12, 16]
    # the original's pre-training: stride 4 from frame 0, never onto the last frame (19)
    assert list(dense_indices(20, 16, 4, rng, pretrain=True)) == [0, 4, 8, 12, 16] + [16] * 11


def test_broken_videos_are_skipped_and_counted(synthetic_root, tmp_path):
    data_dir = ensure_synthetic(synthetic_root, TINY_SYNTHETIC)
    good = read_list(os.path.join(data_dir, "train.csv"))[0]
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "garbage.mp4").write_bytes(garbage_bytes(4096))
    samples = [
        (str(tmp_path / "empty.mp4"), 0),
        (str(tmp_path / "garbage.mp4"), 0),
        (str(tmp_path / "missing.mp4"), 0),
        good,
    ]
    dataset = VideoClipDataset(samples, ClipSampler(4, "dense", 2), PretrainTransform(32, flip=False))
    skipped = 0
    for i in range(3):
        item = dataset[i]
        assert item["video"].shape == (3, 4, 32, 32) and item["video"].dtype == torch.uint8
        skipped += item["skipped"]
    assert skipped >= 3
    assert dataset[3]["skipped"] == 0


def test_repeated_sampling_gives_several_augmented_clips(synthetic_root):
    data_dir = ensure_synthetic(synthetic_root, TINY_SYNTHETIC)
    samples = read_list(os.path.join(data_dir, "train.csv"))
    dataset = VideoClipDataset(samples, ClipSampler(4, "dense", 2), PretrainTransform(32), num_sample=3)
    item = dataset[0]
    assert item["video"].shape == (3, 3, 4, 32, 32)
    clips = item["video"]  # one decode, three independently augmented clips
    assert not (torch.equal(clips[0], clips[1]) and torch.equal(clips[1], clips[2]))
