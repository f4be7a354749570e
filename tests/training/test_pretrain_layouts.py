"""Pre-training a few steps on each dataset layout, with broken files, and the run-level checks."""

import os

import pytest
import torch
from helpers import BROKEN_KINDS, BUILDERS, REPO, TINY, place, run_script
from hydra import compose, initialize_config_dir

from videomae.training.pretrain import run
from videomae.utils.errors import ConfigError, DataError


def run_inprocess(run_dir, overrides):
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose("pretrain", overrides=[*TINY, *overrides])
    return run(cfg, str(run_dir))


@pytest.mark.slow
def test_pretrain_on_every_official_layout(tmp_path, video_bank):
    """UCF101, HMDB51, SSv2 and K400 as downloaded (one root holds all four: their files differ),
    through the real entrypoint, one Hydra multirun."""
    root = tmp_path / "data"
    for build in BUILDERS.values():
        build(str(root), video_bank)
    result = run_script(
        "pretrain.py",
        "-m",
        "dataset=ucf101,hmdb51,ssv2,k400",
        f"data.root={root}",
        f"hydra.sweep.dir={tmp_path / 'runs'}",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("pre-training done: 2 steps") == 4, result.stdout[-2000:]
    for job in range(4):
        assert os.path.isfile(tmp_path / "runs" / str(job) / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_pretrain_folder_with_broken_files_completes_and_reports_them(tmp_path, video_bank):
    root = tmp_path / "videos"
    for kind, name in (("mp4", "a.mp4"), ("avi", "b.avi"), ("webm", "c.webm"), ("short", "d.mp4")):
        place(video_bank, kind, str(root / name))
    broken = [
        place(video_bank, kind, str(root / f"{kind}.mp4")) for kind in BROKEN_KINDS if kind != "missing"
    ]
    run_dir = tmp_path / "run"
    result = run_script(
        "pretrain.py",
        "dataset=folder",
        f"data.root={root}",
        f"hydra.run.dir={run_dir}",
        *TINY,
        "data.batch_size=8",
        "trainer.max_steps=1",
        "data.num_workers=1",
    )  # one batch of all eight videos: every broken file is met
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pre-training done: 1 steps" in result.stdout
    output = result.stdout + result.stderr
    report = (run_dir / "skipped_videos.txt").read_text()
    for path in broken:
        assert f"skipped unreadable video {path}: " in output
        assert f"{path}: " in report
    assert "skipped 4 unreadable videos" in output


def test_pretrain_list_with_missing_and_short_videos(tmp_path, video_bank):
    root = tmp_path / "data"
    place(video_bank, "mp4", str(root / "v" / "a.mp4"))
    place(video_bank, "short", str(root / "v" / "short clip.mp4"))  # shorter than the window; a space
    (root / "train.csv").write_text("v/a.mp4 0 -1\nv/short clip.mp4 0 -1\nv/gone.mp4 0 -1\n")
    last = run_inprocess(tmp_path / "run", ["dataset=k400", f"data.root={root}", "data.num_sample=2"])
    assert os.path.isfile(last)


def test_too_many_unreadable_videos_stop_the_run(tmp_path, video_bank):
    root = tmp_path / "data"
    place(video_bank, "mp4", str(root / "good.mp4"))
    lines = ["good.mp4 0"]
    for kind in BROKEN_KINDS:
        lines.append(f"{os.path.basename(place(video_bank, kind, str(root / f'{kind}.mp4')))} 0")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    overrides = [
        "dataset=ucf101",
        f"data.root={root}",
        "data.skip_check_after=4",
        "data.max_skip_fraction=0.2",
    ]
    with pytest.raises(
        DataError, match=r"(?s)data.max_skip_fraction=0.2.*(zero_byte|truncated|garbage|text|missing).mp4"
    ):
        run_inprocess(tmp_path / "run", overrides)
    assert (tmp_path / "run" / "skipped_videos.txt").read_text().strip()


def test_label_outside_num_classes_names_file_and_line(tmp_path, video_bank):
    root = tmp_path / "data"
    place(video_bank, "mp4", str(root / "a.mp4"))
    (root / "train.csv").write_text("a.mp4 3\na.mp4 51\n")
    with pytest.raises(ConfigError, match=rf"{root / 'train.csv'}:2: label 51 is outside 0..50"):
        run_inprocess(tmp_path / "run", ["dataset=hmdb51", f"data.root={root}"])


def test_data_root_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="^data.root is not set: dataset=ssv2 needs data.root=DIR"):
        run_inprocess(tmp_path / "run", ["dataset=ssv2"])
    with pytest.raises(ConfigError, match=f"^data.root={tmp_path / 'nope'} is not a directory"):
        run_inprocess(tmp_path / "run", ["dataset=folder", f"data.root={tmp_path / 'nope'}"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=f"^data.root={tmp_path / 'empty'} has neither train.csv"):
        run_inprocess(tmp_path / "run", ["dataset=ucf101", f"data.root={tmp_path / 'empty'}"])


def test_seeded_run_repeats_exactly(tmp_path, video_bank):
    root = tmp_path / "data"
    for k, kind in enumerate(("mp4", "mp4_b", "avi", "short")):
        place(video_bank, kind, str(root / f"{k}.mp4"))
    args = ["dataset=folder", f"data.root={root}", "data.num_workers=1"]

    def weights(name, seed):
        last = run_inprocess(tmp_path / name, [*args, f"seed={seed}"])
        return torch.load(last, map_location="cpu", weights_only=False)["state_dict"]

    first, again, other = weights("a", 3), weights("b", 3), weights("c", 4)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
