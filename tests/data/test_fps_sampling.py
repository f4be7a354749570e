"""`data.sampling=fps`: frames taken by time from each video's own timestamps, variable frame rate
included, on every backend; short videos; the settings; exact resume (the sampler is a pure
function of the video's times and the draw)."""

import numpy as np
import pytest
from helpers import BACKENDS, TINY, run_script, tiny_overrides

from videomae.data.config import clip_rate
from videomae.data.decoders.selftest import frame_index, vfr_pts, write_indexed
from videomae.data.sampling import ClipSampler, time_indices, time_views
from videomae.data.video import VideoDecoder
from videomae.utils.errors import ConfigError


def expected_indices(pts_ms: np.ndarray, at_seconds: np.ndarray) -> list[int]:
    """By hand: for each time, the last frame whose timestamp is at or before it."""
    seconds = (pts_ms - pts_ms[0]) / 1000
    return [max(i for i, t in enumerate(seconds) if t <= at + 1e-9) for at in at_seconds]


def test_time_indices_on_a_variable_rate_timeline():
    pts = vfr_pts(60, seed=3)
    times = (pts - pts[0]) / 1000
    got = time_indices(times, 8, 4.0, 0.3)
    assert got.tolist() == expected_indices(pts, 0.3 + np.arange(8) / 4.0)
    # a video shorter than the clip: its frames at the rate from the start, then the last repeated
    short = np.arange(10) / 25.0  # 0.4 s at 25 fps
    assert time_indices(short, 4, 5.0, 0.0).tolist() == [0, 5, 9, 9]
    views = time_views(times, 8, 4.0, 3)
    span = times[-1] - 7 / 4.0
    assert views[0].tolist() == expected_indices(pts, np.arange(8) / 4.0)
    assert views[2].tolist() == expected_indices(pts, span + np.arange(8) / 4.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_files_are_sampled_by_their_timestamps(tmp_path, backend):
    pts = vfr_pts(80, seed=1)
    path = write_indexed(
        str(tmp_path / "vfr.mp4"), 80, "libx264", {"x264-params": "keyint=10:bframes=2"}, pts=pts
    )
    sampler = ClipSampler(6, "fps", fps=8.0)
    seen = {}

    def choose(count):
        seen["times"] = count.times()
        return sampler.views(count, 3)

    frames = VideoDecoder(timeout=None, backend=backend).read(path, choose)
    times = seen["times"]
    assert np.allclose(times - times[0], (pts - pts[0]) / 1000, atol=1e-3)
    span = (pts[-1] - pts[0]) / 1000 - 5 / 8.0
    for view, start in enumerate([0.0, span / 2, span]):
        got = [frame_index(frame) for frame in frames[view]]
        assert got == expected_indices(pts, start + np.arange(6) / 8.0), (view, got)


def test_training_clips_are_a_function_of_the_draw():
    """Exact resume: the same generator state gives the same clip (the loader re-seeds per item)."""
    pts = vfr_pts(50, seed=2)

    class Count(int):
        def times(self):
            return (pts - pts[0]) / 1000

    sampler = ClipSampler(4, "fps", fps=6.0)
    a = sampler(Count(50), np.random.default_rng(7))
    b = sampler(Count(50), np.random.default_rng(7))
    assert a.tolist() == b.tolist()
    with pytest.raises(ValueError, match="no frame timestamps"):
        sampler(50, np.random.default_rng(0))


def test_settings():
    assert clip_rate(16, ("fps",), 8.0, None) == 8.0
    assert clip_rate(16, ("fps",), None, 2.0) == 8.0
    assert clip_rate(16, ("dense",), None, None) is None
    with pytest.raises(ConfigError, match="needs exactly one of data.target_fps"):
        clip_rate(16, ("fps",), None, None)
    with pytest.raises(ConfigError, match="data.target_fps=4 is used only with data.sampling=fps"):
        clip_rate(16, ("dense",), 4, None)
    with pytest.raises(ConfigError, match="data.clip_seconds=0 must be > 0"):
        clip_rate(16, ("fps",), None, 0)


@pytest.mark.slow
def test_pretraining_and_finetuning_by_time_end_to_end(tmp_path, synthetic_root):
    fps = ["data.sampling=fps", "data.target_fps=5"]
    pre = run_script(
        "pretrain.py", *TINY, *tiny_overrides(synthetic_root), *fps, f"hydra.run.dir={tmp_path / 'p'}"
    )
    assert pre.returncode == 0, pre.stderr[-2000:]
    assert "0 skipped videos" in pre.stdout
    fine = run_script(
        "finetune.py",
        *[o for o in TINY if not o.startswith("model.decoder")],
        *[o for o in tiny_overrides(synthetic_root) if not o.startswith("model.decoder")],
        "data.sampling=fps",
        "data.clip_seconds=0.8",
        "test=true",
        "data.test_clips=2",
        "data.test_crops=1",
        f"pretrained={tmp_path / 'p'}",
        f"hydra.run.dir={tmp_path / 'f'}",
    )
    assert fine.returncode == 0, fine.stderr[-2000:]
    assert "test: 8 of 8 videos" in fine.stdout
