"""scripts/demo.py end to end at toy size: every stage, the results files and the plot."""

import json
import os

import pytest
from helpers import TINY_MODEL, run_script

from videomae.report.demo import ARMS, LONG_ARMS, per_epoch

TINY_DEMO = [
    "--unlabeled", "2", "--per-class", "1", "--test-per-class", "1",
    "--pretrain-epochs", "2", "--finetune-epochs", "2",
    "--set", *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
    "data.synthetic.num_val_per_class=1", "data.synthetic.size=32", "data.input_size=32",
    "data.synthetic.num_frames=12", "data.num_workers=0", "data.batch_size=4",
]  # fmt: skip


@pytest.mark.slow
def test_demo_runs_every_stage_for_each_seed(tmp_path):
    out = tmp_path / "demo"
    data = str(tmp_path / "data")
    result = run_script(
        "demo.py",
        "--seeds",
        "0",
        "1",
        "--long",
        "--out",
        str(out),
        "--data-root",
        data,
        *TINY_DEMO,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for seed in (0, 1):
        seed_dir = out / f"seed{seed}"
        summary = json.loads((seed_dir / "results.json").read_text())
        assert summary["seed"] == seed
        for arm in (*ARMS, *LONG_ARMS):
            metrics = summary["arms"][arm]
            assert set(metrics) >= {"top1", "top5", "mean_class"} and metrics["videos"] == 8
        assert (
            summary["gain_top1"]
            == summary["arms"]["pre-trained"]["top1"] - summary["arms"]["scratch"]["top1"]
        )
        assert summary["probe"]["before"]["epoch"] == 0 and summary["probe"]["after"]["epoch"] == 2
        assert (seed_dir / "demo.png").stat().st_size > 10_000
        assert (seed_dir / "reconstruction.png").is_file()
        # the plot's fine-tuning curves come from each arm's validation, once per epoch here
        for arm in ARMS:
            assert [
                e for e, _ in per_epoch(str(seed_dir / f"finetune-{arm}" / "metrics.csv"), "val/top1")
            ] == [1, 2]
        # the 10x arms: 20 epochs, validated every 3
        for arm in LONG_ARMS:
            assert [
                e for e, _ in per_epoch(str(seed_dir / f"finetune-{arm}" / "metrics.csv"), "val/top1")
            ] == [3, 6, 9, 12, 15, 18]
        assert summary["gain_top1_10x"] == (
            summary["arms"]["pre-trained-10x"]["top1"] - summary["arms"]["scratch-10x"]["top1"]
        )
    # each seed has its own videos
    assert len(os.listdir(tmp_path / "data")) == 2
    both = json.loads((out / "results.json").read_text())
    assert both["seeds"] == [0, 1] and len(both["gain_top1"]) == 2
    assert "over seeds 0 1: mean ± standard deviation" in result.stdout
    assert "epoch 2/2" in result.stdout  # progress lines in every stage
