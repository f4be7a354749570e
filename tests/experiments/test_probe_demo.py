"""scripts/probe_demo.py's arguments: the turn task's videos, a subset of the arms, equal steps."""

import pytest

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
