"""Frames, sizes and crops pinned to the formulas of MCG-NJU/VideoMAE (14ef8d8), in both modes.

The references below are written from the original's formulas (kinetics.py `loadvideo_decord` and
`VideoMAE._sample_train_indices` / `_video_TSN_decord_batch_loader`, ssv2.py `loadvideo_decord`,
functional.py `get_resize_sizes`, the test branches of both `__getitem__`s), in exact integer
arithmetic or as the original's step-by-step walk, independently of videomae.data.sampling. Pure
index functions only: nothing is decoded, so every length 1..301 is checked in well under a second
per formula.
"""

import numpy as np
import pytest
import torch

from videomae.data.sampling import (
    ClipSampler,
    dense_indices,
    dense_views,
    segment_choices,
    segment_indices,
    segment_views,
    uniform_segment_indices,
    window_indices,
    window_starts,
)
from videomae.data.transforms import EvalTransform, center_box, crop_boxes, resize_short_side, spatial_crops
from videomae.data.video import scaled_size, short_side_size

LENGTHS = range(1, 302)
RECIPES = [(16, 4), (16, 2)]  # K400 / UCF101 (16 x 4); HMDB51 and SSv2 pre-training (16 x 2)


# --- the original's formulas ------------------------------------------------------------------------


def original_finetune_windows(n, frames, rate):
    """loadvideo_decord, one segment: a list of every possible window (each equally likely)."""
    window = frames * rate
    if n <= window:  # n // rate points of linspace(0, n) (end included), then n; clipped to n - 1
        taken = n // rate
        spread = [(k * n) // (taken - 1) if taken > 1 else 0 for k in range(taken)]
        return [[min(i, n - 1) for i in spread + [n] * (frames - taken)]]
    windows = []
    for end in range(window, n):  # randint(window, n): the upper end excluded
        start = end - window
        windows.append([min(start + (k * window) // (frames - 1), end - 1) for k in range(frames)])
    return windows


def original_pretrain_windows(n, frames, rate):
    """VideoMAE (pre-training): a 1-based offset from randint(n - window + 1) (0 if shorter),
    then per frame: take offset - 1, and step by `rate` only while offset + rate < n."""
    window = frames * rate
    average = n - window + 1
    offsets = [o + 1 for o in range(average)] if average > 0 else [1]
    windows = []
    for offset in offsets:
        taken = []
        for _ in range(frames):
            taken.append(offset - 1)
            if offset + rate < n:
                offset += rate
        windows.append(taken)
    return windows


def original_test_clips(n, frames, rate, clips):
    """The test branch: every rate-th frame (the last repeated up to `frames`), then clip c starts
    at int(c * max((len - frames) / (clips - 1), 0))."""
    strided = list(range(0, n, rate))
    while len(strided) < frames:
        strided.append(strided[-1])
    step = max((len(strided) - frames) / (clips - 1), 0)
    return [strided[int(c * step) : int(c * step) + frames] for c in range(clips)]


def original_ssv2_test_clips(n, segments=16, clips=2):
    """ssv2.py test: middles and starts of n / segments ticks, padded, sorted; clip c = [c::2]."""
    tick = n / float(segments)
    chosen = [int(tick / 2.0 + tick * x) for x in range(segments)] + [int(tick * x) for x in range(segments)]
    while len(chosen) < segments * clips:
        chosen.append(chosen[-1])
    chosen = sorted(chosen)
    return [chosen[c::2] for c in range(clips)]


def original_ssv2_segments(n, segments=16):
    """ssv2.py training: segment x gives x * (n // segments) + randint(n // segments); under one
    frame per segment, frame 0."""
    length = n // segments
    if length > 0:
        return [list(range(x * length, x * length + length)) for x in range(segments)]
    return [[0]] * segments


def original_resize(height, width, size):
    """functional.py: the short side to `size`, the other int(size * long / short); unchanged if
    the short side is `size` already."""
    if (width <= height and width == size) or (height <= width and height == size):
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def original_test_crops(height, width, size, crops=3):
    """The test branch: starts int(k * (long - size) / (crops - 1)) along the long side (height
    when height >= width), the whole short side across."""
    step = 1.0 * (max(height, width) - size) / (crops - 1)
    if height >= width:
        return [(int(k * step), 0) for k in range(crops)]
    return [(0, int(k * step)) for k in range(crops)]


def original_center_crop(height, width, size):
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def windows(n, frames, rate, mode, pretrain):
    starts = window_starts(n, frames, rate, mode, pretrain)
    return [window_indices(n, s, frames, rate, mode, pretrain).tolist() for s in starts]


# --- training windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frames, rate", RECIPES)
def test_original_finetune_windows_every_length(frames, rate):
    for n in LENGTHS:
        assert windows(n, frames, rate, "original", False) == original_finetune_windows(n, frames, rate), n


@pytest.mark.parametrize("frames, rate", RECIPES)
def test_original_pretrain_windows_every_length(frames, rate):
    for n in LENGTHS:
        assert windows(n, frames, rate, "original", True) == original_pretrain_windows(n, frames, rate), n


def test_original_windows_the_issue_names():
    offsets = [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63]
    assert window_indices(300, 10, 16, 4).tolist() == [10 + o for o in offsets]
    assert window_starts(300, 16, 4) == range(236)  # 0..n-65: the window ending on frame 299 never comes
    assert window_indices(30, 0, 16, 4).tolist() == [0, 5, 10, 15, 20, 25] + [29] * 10
    assert window_indices(30, 0, 16, 4, pretrain=True).tolist() == list(range(0, 29, 4)) + [28] * 8
    assert window_starts(300, 16, 4, pretrain=True) == range(237)


@pytest.mark.parametrize("frames, rate", RECIPES)
def test_uniform_windows_every_length(frames, rate):
    window = frames * rate
    for n in LENGTHS:
        for pretrain in (False, True):
            got = windows(n, frames, rate, "uniform", pretrain)
            if n <= window:  # one clip: the whole video spread, then its last frame
                taken = max(n // rate, 1)
                spread = [(k * n) // taken for k in range(taken)] + [n - 1] * (frames - taken)
                assert got == [[min(i, n - 1) for i in spread[:frames]]], n
            else:  # every window, the last one too, at stride `rate`
                assert got == [[s + rate * k for k in range(frames)] for s in range(n - window + 1)], n


@pytest.mark.parametrize("mode, pretrain", [("original", False), ("original", True), ("uniform", False)])
def test_random_windows_are_drawn_from_the_pinned_set(mode, pretrain):
    rng = np.random.default_rng(0)
    for n in (10, 64, 65, 70, 150):
        allowed = {tuple(w) for w in windows(n, 16, 4, mode, pretrain)}
        drawn = {tuple(dense_indices(n, 16, 4, rng, mode, pretrain)) for _ in range(40 * len(allowed))}
        assert drawn == allowed, n  # every window comes, and only those


# --- SSv2 segments ------------------------------------------------------------------------------------


def test_original_ssv2_segments_every_length():
    for n in LENGTHS:
        assert [list(c) for c in segment_choices(n, 16)] == original_ssv2_segments(n), n
    assert segment_choices(63, 16)[-1] == range(45, 48)  # frames 48..62 are never drawn
    assert segment_choices(15, 16) == [range(1)] * 16  # under 16 frames: frame 0 throughout


def test_uniform_ssv2_segments_every_length():
    for n in LENGTHS:
        edges = [n * x / 16 for x in range(17)]
        low = uniform_segment_indices(n, 16, np.zeros(16))
        high = uniform_segment_indices(n, 16, np.full(16, 1 - 1e-9))
        for x in range(16):  # each segment spans its fraction of the whole video
            assert low[x] == int(edges[x]) and high[x] == min(-int(-edges[x + 1] // 1) - 1, n - 1), (n, x)


@pytest.mark.parametrize("mode", ["original", "uniform"])
def test_random_segments_stay_in_their_segments(mode):
    rng = np.random.default_rng(0)
    for n in (5, 16, 63, 100):
        allowed = original_ssv2_segments(n) if mode == "original" else None
        for _ in range(50):
            index = segment_indices(n, 16, rng, mode)
            if allowed is not None:
                assert all(i in a for i, a in zip(index, allowed, strict=True)), n
            else:
                assert all(int(n * x / 16) <= i < max(n * (x + 1) / 16, 1) for x, i in enumerate(index)), n


# --- test views (the same in both modes) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "frames, rate, clips", [(16, 4, 5), (16, 2, 10)]
)  # K400 / UCF101 5 x 3, HMDB51 10 x 3
def test_dense_test_views_every_length(frames, rate, clips):
    for n in LENGTHS:
        assert dense_views(n, frames, rate, clips).tolist() == original_test_clips(n, frames, rate, clips), n


def test_ssv2_test_views_every_length():
    for n in LENGTHS:
        assert segment_views(n, 16, 2).tolist() == original_ssv2_test_clips(n), n


@pytest.mark.parametrize("mode", ["original", "uniform"])
def test_sampler_views_do_not_depend_on_the_mode(mode):
    dense, segment = ClipSampler(16, "dense", 4, mode), ClipSampler(16, "segment", mode=mode)
    for n in (1, 30, 64, 200, 301):
        assert dense.views(n, 5).tolist() == original_test_clips(n, 16, 4, 5)
        assert segment.views(n, 2).tolist() == original_ssv2_test_clips(n)


def test_sampler_picks_the_formula_of_its_mode_and_stage():
    rng = np.random.default_rng(0)
    assert ClipSampler(16).mode == "original"  # the default is the original's pipeline
    assert ClipSampler(16, "dense", 4)(30, rng).tolist() == original_finetune_windows(30, 16, 4)[0]
    assert (
        ClipSampler(16, "dense", 4, pretrain=True)(30, rng).tolist()
        == original_pretrain_windows(30, 16, 4)[0]
    )
    assert ClipSampler(16, "dense", 4, "uniform")(30, rng).tolist() == [0, 4, 8, 12, 17, 21, 25] + [29] * 9
    assert ClipSampler(16, "segment")(15, rng).tolist() == [0] * 16
    with pytest.raises(ValueError, match="sampling_mode='exact' is not one of original, uniform"):
        ClipSampler(16, mode="exact")


# --- resize sizes and crop boxes ----------------------------------------------------------------------

FRAME_SIZES = [
    (320, 568), (568, 320), (240, 320), (256, 340), (320, 426), (360, 640), (480, 854),
    (720, 1280), (224, 224), (300, 300), (101, 203), (112, 150), (224, 400), (400, 224),
]  # fmt: skip


@pytest.mark.parametrize("height, width", FRAME_SIZES)
def test_resize_sizes_and_crop_boxes(height, width):
    size = 224
    original = short_side_size(height, width, size, "original")
    assert original == original_resize(height, width, size)
    scale = size / min(height, width)  # uniform: the long side rounded
    long_side = (
        max(size, round(max(height, width) * scale)) if min(height, width) != size else max(height, width)
    )
    uniform = short_side_size(height, width, size, "uniform")
    assert uniform == ((size, long_side) if height <= width else (long_side, size))
    for h, w in (original, uniform):  # the boxes are the original's formulas, whatever the size
        assert crop_boxes(h, w, size, 3) == original_test_crops(h, w, size)
        assert center_box(h, w, size) == original_center_crop(h, w, size)
        assert crop_boxes(h, w, size, 1) == [original_center_crop(h, w, size)]
    # the decoder shrinks to the same sizes (and never enlarges)
    for mode, expected in (("original", original), ("uniform", uniform)):
        shrunk = scaled_size(height, width, size, mode)
        assert shrunk == (expected if min(height, width) > size else None)


def test_the_issue_example_320x568():
    assert short_side_size(320, 568, 224, "original") == (224, 397)
    assert [left for _, left in crop_boxes(224, 397, 224, 3)] == [0, 86, 173]
    assert short_side_size(320, 568, 224, "uniform") == (224, 398)
    assert [left for _, left in crop_boxes(224, 398, 224, 3)] == [0, 87, 174]


@pytest.mark.parametrize("mode, width, lefts", [("original", 81, [0, 17, 35]), ("uniform", 82, [0, 18, 36])])
def test_resize_and_crops_on_real_tensors(mode, width, lefts):
    clip = torch.randint(0, 256, (2, 3, 32, 57), dtype=torch.uint8)  # 32 x 57 -> short side 46
    resized = resize_short_side(clip, 46, mode)
    assert resized.shape[-2:] == (46, width)  # 46 x 57 / 32 = 81.94: truncated or rounded
    marked = torch.arange(width).expand(2, 3, 46, width)
    assert [c[0, 0, 0, 0].item() for c in spatial_crops(marked, 46, 3)] == lefts
    view = EvalTransform(46, mode)(clip)
    assert view.shape[-2:] == (46, 46)
    center = center_box(46, width, 46)[1]
    assert torch.equal(view, resized[..., :, center : center + 46])
