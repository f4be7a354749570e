"""scripts/probe_demo.py's arguments: the turn task's videos and a subset of the arms."""

import pytest

from videomae.experiments.probes import ARMS, data_overrides, parse_args


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
