"""scripts/probe_demo.py: its arguments (the turn task's videos, a subset of the arms, equal
steps), and the whole experiment at toy size, resumed."""

import json

import pytest
import torch
from helpers import run_script, tiny_model
from PIL import Image

from videomae import export_ours
from videomae.experiments.probes import ARMS, data_overrides, epochs_for, parse_args


def test_turn_gives_every_run_the_turning_dots_in_one_clip_long_videos():
    args = parse_args(["--pretrained", "RUN", "--turn"])
    overrides = data_overrides(args, 1.0)
    assert "data.synthetic.dot_turn=true" in overrides and "data.synthetic.num_frames=16" in overrides
    assert not any("dot_turn" in o for o in data_overrides(parse_args(["--pretrained", "RUN"]), 1.0))


def test_figure_gives_every_run_the_figure_and_ground_dots():
    args = parse_args(["--pretrained", "RUN", "--figure", "0.25"])
    assert "data.synthetic.dot_figure=0.25" in data_overrides(args, 1.0)
    assert not any("dot_figure" in o for o in data_overrides(parse_args(["--pretrained", "RUN"]), 1.0))


def test_arms_default_to_all_and_take_a_subset():
    assert parse_args(["--pretrained", "RUN"]).arms == list(ARMS)
    args = parse_args(["--pretrained", "RUN", "--arms", "linear / pre-trained"])
    assert args.arms == ["linear / pre-trained"]
    with pytest.raises(SystemExit):
        parse_args(["--pretrained", "RUN", "--arms", "mlp"])


def steps_epochs(*argv: str) -> int:
    args = parse_args(["--pretrained", "RUN", *argv])
    return epochs_for(args, data_overrides(args, 1.0))


def test_steps_give_every_label_budget_the_same_optimizer_steps():
    assert steps_epochs("--epochs", "40") == 40
    # 8 classes, batches of 16, the partial batch dropped: 20 per class is 10 steps an epoch, 5 is 2.
    for per_class, epochs in [(20, 40), (10, 80), (5, 200), (3, 400)]:
        assert steps_epochs("--steps", "400", "--train-per-class", str(per_class)) == epochs
    assert steps_epochs("--steps", "401", "--train-per-class", "20") == 41  # at least the steps asked for
    # The runs' own batch size and classes: batches of 32 halve the steps an epoch.
    assert steps_epochs("--steps", "400", "--train-per-class", "20", "--set", "data.batch_size=32") == 80


@pytest.mark.slow
def test_the_experiment_runs_every_arm_draws_where_they_look_and_resumes(tmp_path):
    torch.manual_seed(0)
    encoder = export_ours(tiny_model(patch_size=8), tmp_path / "encoder.safetensors")
    out = tmp_path / "probe-demo"
    argv = [
        "--pretrained", str(encoder), "--out", str(out), "--seeds", "0", "--figure", "0.25",
        "--coherence", "1.0", "--train-per-class", "2", "--epochs", "1", "--lrs", "[1e-3]",
        "--set", f"data.root={tmp_path / 'data'}", "data.synthetic.num_train_per_class=2",
        "data.synthetic.num_val_per_class=1", "data.synthetic.num_test_per_class=1",
        "data.synthetic.num_frames=12", "data.synthetic.size=32", "data.input_size=32",
        "data.num_frames=4", "data.batch_size=4", "data.num_workers=0", "probe.num_heads=2",
    ]  # fmt: skip
    result = run_script("probe_demo.py", *argv, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "results.json").read_text())
    assert summary["coherence"] == 1.0 and summary["epochs"] == 1 and set(summary["arms"]) == set(ARMS)
    for arm, rows in summary["arms"].items():
        (row,) = rows
        assert row["seed"] == 0 and 0 <= row["test_top1"] <= 100 and row["epoch_time_s"] > 0, arm
        assert f"{arm:<26} test top-1" in result.stdout
    # the random arm's encoder: the pre-trained architecture (the same file size), fresh weights
    assert (out / "random.safetensors").stat().st_size == encoder.stat().st_size
    with Image.open(out / "attention.png") as image:  # frames, then one row per attentive arm
        assert image.height == 2 * 20 + 3 * (128 + 2)
    # a rerun reads every finished probe run back instead of training it again
    again = run_script("probe_demo.py", *argv, timeout=300)
    assert again.returncode == 0 and "$ " not in again.stdout, again.stdout[-2000:]
    assert json.loads((out / "results.json").read_text())["arms"] == summary["arms"]
