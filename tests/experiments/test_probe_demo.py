"""scripts/probe_demo.py's arguments: the turn task's videos, a subset of the arms, equal steps."""

import pytest

from videomae.experiments.probes import ARMS, data_overrides, epochs_for, parse_args


def test_turn_gives_every_run_the_turning_dots_in_one_clip_long_videos():
    args = parse_args(["--pretrained", "RUN", "--turn"])
    overrides = data_overrides(args, 1.0)
    assert "data.synthetic.dot_turn=true" in overrides and "data.synthetic.num_frames=16" in overrides
    assert not any("dot_turn" in o for o in data_overrides(parse_args(["--pretrained", "RUN"]), 1.0))


def test_arms_default_to_all_and_take_a_subset():
    assert parse_args(["--pretrained", "RUN"]).arms == list(ARMS)
    args = parse_args(["--pretrained", "RUN", "--arms", "linear / pre-trained"])
    assert args.arms == ["linear / pre-trained"]
    with pytest.raises(SystemExit):
        parse_args(["--pretrained", "RUN", "--arms", "mlp"])


def test_steps_give_every_label_budget_the_same_optimizer_steps():
    assert epochs_for(parse_args(["--pretrained", "RUN", "--epochs", "40"])) == 40
    # 8 classes, batches of 16, the partial batch dropped: 20 per class is 10 steps an epoch, 5 is 2.
    for per_class, epochs in [(20, 40), (10, 80), (5, 200), (3, 400)]:
        args = parse_args(["--pretrained", "RUN", "--steps", "400", "--train-per-class", str(per_class)])
        assert epochs_for(args) == epochs
    args = parse_args(["--pretrained", "RUN", "--steps", "401", "--train-per-class", "20"])
    assert epochs_for(args) == 41  # at least the steps asked for
