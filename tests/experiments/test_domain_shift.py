"""scripts/demo.py --domain-shift: the arms' budgets and settings, the results file, the picture."""

import json
import os
import runpy

import pytest
from helpers import REPO, TINY_MODEL, run_script

from videomae.experiments import domain_shift

parse_args = runpy.run_path(os.path.join(REPO, "scripts", "demo.py"))["parse_args"]

TINY_DOMAIN = [
    "--unlabeled", "2", "--target-unlabeled", "2", "--test-per-class", "1", "--pretrain-epochs", "2",
    "--target-epochs", "2", "--target-per-class", "1", "--max-finetune-epochs", "3", "--val-every", "1",
    "--patience", "1",
    "--set", *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
    "data.synthetic.num_val_per_class=1", "data.synthetic.size=32", "data.input_size=32",
    "data.synthetic.num_frames=12", "data.num_workers=0", "data.batch_size=4",
]  # fmt: skip


def test_every_arm_gets_the_same_labels_recipe_and_budget():
    args = domain_shift.settings(parse_args(["--domain-shift", "--seed", "7", "--target-epochs", "6"]))
    assert args.seeds == [7]
    steps = domain_shift.pretraining_steps(args)
    assert steps["continued"]["target"] == steps["target_only"]["target"] == 6 * 20
    assert steps["continued"]["source"] == steps["direct"]["source"] == args.source_epochs * 30
    assert steps["target_only"]["source"] == steps["scratch"]["source"] == steps["scratch"]["target"] == 0
    # fine-tuning: identical overrides but for the run's own best-checkpoint folder
    a, b = (domain_shift.finetune_overrides(args, d) for d in ("/r/a", "/r/b"))
    assert [x for x in a if "dirpath" not in x] == [x for x in b if "dirpath" not in x]
    assert "+callbacks.stop.monitor=val/top1" in a and f"trainer.max_epochs={args.finetune_epochs}" in a


def test_the_target_is_another_domain_of_its_own_videos():
    args = domain_shift.settings(parse_args(["--domain-shift", "--seed", "3"]))
    source, target = domain_shift.domain(args, 3, False), domain_shift.domain(args, 3, True)
    assert "data.synthetic.seed=3" in source and "data.channels=gray" not in source
    assert "data.synthetic.seed=1003" in target and "seed=3" in target
    assert {"data.channels=gray", "model.in_chans=1", "data.synthetic.motions=flow"} <= set(target)
    # the target's own collection size comes after (and so wins over) the demo's
    sizes = [o for o in target if o.startswith("data.synthetic.num_train_per_class=")]
    assert sizes[-1] == "data.synthetic.num_train_per_class=40"


def fake_run(seed: int, top1: dict) -> dict:
    arms = {arm: {"top1": v, "top5": 100.0, "mean_class": v, "videos": 160, "epochs": 20,
                  "val_curve": [[5, 20.0], [10, v]]} for arm, v in top1.items()}  # fmt: skip
    point = {"epoch": 0, "knn_top1": 10.0, "linear_top1": 20.0}
    return {
        "seed": seed,
        "arms": arms,
        "continued_beats": {a: top1["continued"] > v for a, v in top1.items() if a != "continued"},
        "probe": {a: {"before": point, "after": point} for a in ("continued", "target_only")},
    }


def test_over_seeds_says_where_continued_does_not_win(tmp_path):
    runs = [
        fake_run(0, {"direct": 50.0, "continued": 70.0, "target_only": 40.0, "scratch": 20.0}),
        fake_run(1, {"direct": 75.0, "continued": 70.0, "target_only": 30.0, "scratch": 20.0}),
    ]
    summary = domain_shift.over_seeds(runs)
    assert summary["continued_beats_on_every_seed"] == {"direct": False, "target_only": True, "scratch": True}
    assert summary["top1"]["direct"]["values"] == [50.0, 75.0] and summary["top1"]["direct"]["mean"] == 62.5
    domain_shift.write(summary, str(tmp_path))
    assert json.loads((tmp_path / "results.json").read_text())["seeds"] == [0, 1]
    assert (tmp_path / "domain_shift.png").stat().st_size > 10_000


@pytest.mark.slow
def test_domain_shift_runs_every_arm(tmp_path):
    out = tmp_path / "domain"
    result = run_script(
        "demo.py", "--domain-shift", "--seed", "5", "--out", str(out),
        "--data-root", str(tmp_path / "data"), *TINY_DOMAIN, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "results.json").read_text())
    assert set(summary["arms"]) == set(domain_shift.ARMS)
    for metrics in summary["arms"].values():
        assert set(metrics) >= {"top1", "top5", "mean_class", "best_val_top1"} and metrics["videos"] == 8
        assert 1 <= metrics["epochs"] <= 3
    assert summary["probe"]["continued"]["before"]["epoch"] == 0
    assert summary["probe"]["continued"]["after"]["epoch"] == 2
    assert "patch embedding adapted from 3 to 1 input channels" in result.stdout  # direct and continued
    assert (out / "domain_shift.png").stat().st_size > 10_000
