"""The demo's generated videos: real H.264 files, cached and seeded, whose class is only the motion."""

import os
from dataclasses import asdict

import numpy as np
import pytest
from helpers import TINY_SYNTHETIC

from videomae.data.annotations import read_list
from videomae.data.synthetic import CLASSES, SyntheticSpec, class_names, ensure_synthetic, render_video
from videomae.data.video import read_frames
from videomae.utils.errors import ConfigError


def test_synthetic_videos_are_real_h264_files_read_by_decord(synthetic_root):
    import av

    data_dir = ensure_synthetic(synthetic_root, TINY_SYNTHETIC)
    samples = read_list(os.path.join(data_dir, "train.csv"))
    assert len(samples) == TINY_SYNTHETIC.num_train_per_class * len(CLASSES)
    assert sorted({label for _, label in samples}) == list(range(len(CLASSES)))
    path = samples[0][0]
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    frames = read_frames(path, lambda n: np.arange(n))
    assert frames.shape == (TINY_SYNTHETIC.num_frames, 64, 64, 3) and frames.dtype == np.uint8
    with open(os.path.join(data_dir, "train.csv")) as f:
        line = f.readline().split()
    assert len(line) == 2 and line[0].endswith(".mp4") and line[1].isdigit()


def test_synthetic_generation_is_cached_and_seeded(synthetic_root):
    data_dir = ensure_synthetic(synthetic_root, TINY_SYNTHETIC)
    stamp = os.path.getmtime(os.path.join(data_dir, "spec.json"))
    assert ensure_synthetic(synthetic_root, TINY_SYNTHETIC) == data_dir
    assert os.path.getmtime(os.path.join(data_dir, "spec.json")) == stamp
    spec = SyntheticSpec(size=64, num_frames=8)
    a = render_video(3, spec, np.random.default_rng(5))
    assert np.array_equal(a, render_video(3, spec, np.random.default_rng(5)))


def test_synthetic_classes_differ_only_in_motion():
    """With the same random draws, every class starts from the same frame, and 'grow' played
    backwards is exactly 'shrink': appearance says nothing about the class, motion does."""
    spec = SyntheticSpec(size=64, num_frames=16, content="objects")
    videos = {name: render_video(i, spec, np.random.default_rng(7)) for i, name in enumerate(CLASSES)}
    first = videos["right"][0]
    for name in ("left", "down", "up", "clockwise", "counterclockwise"):
        assert np.array_equal(videos[name][0], first)
        assert not np.array_equal(videos[name][-1], videos["right"][-1])
    assert np.array_equal(videos["grow"][::-1], videos["shrink"])
    for frames in videos.values():
        assert np.abs(np.diff(frames.astype(np.float32), axis=0)).mean() > 0.05  # nothing is static


@pytest.mark.parametrize("content", ["dots", "scene"])
def test_dots_and_scenes_move_and_their_first_frame_says_nothing(content):
    """Every class starts from the same frame for the same draws; frames then move (by about the
    set speed, for dots) and differ between classes."""
    spec = SyntheticSpec(size=64, num_frames=8, content=content, motions="pans")
    names = class_names(spec)
    assert len(names) == 8
    videos = [render_video(i, spec, np.random.default_rng(3)) for i in range(len(names))]
    for video in videos:
        assert video.shape == (8, 64, 64, 3) and video.dtype == np.uint8
        assert np.array_equal(video[0], videos[0][0])
        assert np.abs(np.diff(video.astype(np.float32), axis=0)).mean() > 2  # nothing is static
    assert len({v[-1].tobytes() for v in videos}) == len(names)


def test_dots_drift_the_way_their_class_says():
    """East moves the dot field right by the speed: shifting frame t back by t*speed columns
    recovers frame 0, and no other direction does."""
    spec = SyntheticSpec(size=64, num_frames=4, content="dots", pan=2.0, dot_radius=(2.0, 2.0))
    rng = np.random.default_rng(0)
    video = render_video(0, spec, rng)  # east; the speed is pan x U(0.8, 1.2)
    errors = {
        shift: np.abs(np.roll(video[3], -shift, axis=1).astype(int) - video[0]).mean()
        for shift in range(-8, 9)
    }
    best = min(errors, key=errors.get)
    assert 4 <= best <= 8 and errors[best] < 0.5 * errors[0]


def test_dots_turn_back_halfway():
    """dot_turn: the first half is the class's drift, then the dots retrace it (frame 4 + k is
    frame 4 - k), so east-then-west differs from west-then-east only in order."""
    spec = SyntheticSpec(size=64, num_frames=8, content="dots", pan=2.0)
    straight = render_video(0, spec, np.random.default_rng(5))
    turned = render_video(0, SyntheticSpec(**{**asdict(spec), "dot_turn": True}), np.random.default_rng(5))
    assert np.array_equal(turned[:5], straight[:5])
    for k in range(1, 4):
        assert np.array_equal(turned[4 + k], turned[4 - k])
    assert not np.array_equal(turned[7], straight[7])


def test_dot_figure_drifts_the_class_way_in_a_bright_square_over_a_panning_ground():
    """dot_figure: only a square of that share of the frame (bright dots) drifts the class's way;
    the ground around it (dim dots) pans one random way, the same for every class."""
    spec = SyntheticSpec(size=64, num_frames=4, pan=2.0, dot_radius=(2.0, 2.0), dot_figure=0.25)
    top, left = np.random.default_rng(1).integers(0, 64, 2)  # the square's corner: render_dots' first draw
    east, west = (  # the square moved to the top left corner
        np.roll(render_video(label, spec, np.random.default_rng(1)), (-top, -left), axis=(1, 2))
        for label in (0, 4)
    )
    assert np.array_equal(east[0], west[0])  # the first frame says nothing about the class
    ground = np.ones((64, 64), dtype=bool)
    ground[:32, :32] = False
    assert np.array_equal(east[:, ground], west[:, ground])
    assert not np.array_equal(east[3, :32, :32], west[3, :32, :32])
    assert east[:, ground].max() <= 0.55 * 255 + 1 and east[:, :32, :32].min(axis=-1).max() >= 0.75 * 255 - 1
    # Inside the square (away from its edges, where dots enter and leave) east drifts right, west left.
    assert 4 <= best_shift(east[0, 4:28, 8:24], east[3, 4:28, 8:24]) <= 8
    assert -8 <= best_shift(west[0, 4:28, 8:24], west[3, 4:28, 8:24]) <= -4
    with pytest.raises(ConfigError, match=r"data.synthetic.dot_figure=1.5 is not in \[0, 1\)"):
        SyntheticSpec(dot_figure=1.5)
    with pytest.raises(ConfigError, match="dot_figure=0.25 needs content=dots"):
        SyntheticSpec(dot_figure=0.25, content="scene")


def test_synthetic_cache_key_of_earlier_datasets_is_kept():
    assert SyntheticSpec().digest() == "e299773e03"
    assert SyntheticSpec(dot_turn=True).digest() != SyntheticSpec().digest()
    assert SyntheticSpec(dot_lifetime=4).digest() != SyntheticSpec().digest()
    assert SyntheticSpec(dot_figure=0.25).digest() != SyntheticSpec().digest()


def test_synthetic_test_split_is_its_own_videos(tmp_path):
    spec = SyntheticSpec(
        num_train_per_class=1, num_val_per_class=1, num_test_per_class=2, size=32, num_frames=4
    )
    data_dir = ensure_synthetic(str(tmp_path), spec)
    test = read_list(os.path.join(data_dir, "test.csv"))
    assert len(test) == 16 and not {p for p, _ in test} & {
        p for p, _ in read_list(os.path.join(data_dir, "val.csv"))
    }


def test_synthetic_spec_names_a_wrong_content():
    with pytest.raises(
        ConfigError, match=r"data.synthetic.content='noise' is not one of dots, scene, objects"
    ):
        SyntheticSpec(content="noise")


def best_shift(a: np.ndarray, b: np.ndarray) -> int:
    """The column shift that best maps frame (band) a onto b."""
    errors = {s: np.abs(np.roll(a, s, axis=1).astype(int) - b).mean() for s in range(-8, 9)}
    return min(errors, key=errors.get)


def test_flow_dots_follow_their_field():
    """motions=flow: 'right' moves the whole field right; 'clockwise' moves the top of the frame
    right and its bottom left (image rows grow downwards), 'counterclockwise' the reverse."""
    spec = SyntheticSpec(size=64, num_frames=4, content="dots", motions="flow", pan=2.0, roll=0.08)
    assert class_names(spec) == CLASSES
    video = {name: render_video(CLASSES.index(name), spec, np.random.default_rng(1)) for name in CLASSES}
    assert best_shift(video["right"][0], video["right"][2]) >= 3
    assert best_shift(video["left"][0], video["left"][2]) <= -3
    top, bottom = slice(0, 14), slice(50, 64)
    cw, ccw = video["clockwise"], video["counterclockwise"]
    assert best_shift(cw[0][top], cw[2][top]) > 0 > best_shift(cw[0][bottom], cw[2][bottom])
    assert best_shift(ccw[0][top], ccw[2][top]) < 0 < best_shift(ccw[0][bottom], ccw[2][bottom])
    for frames in video.values():
        assert np.abs(np.diff(frames.astype(np.float32), axis=0)).mean() > 2  # nothing is static


def test_flow_fields_are_dots_only():
    with pytest.raises(ConfigError, match=r"data.synthetic.motions=flow needs content=dots, not 'scene'"):
        SyntheticSpec(content="scene", motions="flow")
