"""The online probe: its math, its subsets and settings, and the callback in real pre-training runs."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import REPO, TINY, place, popen, run_command, run_script, tiny_overrides
from hydra import compose, initialize_config_dir

from videomae.eval.probe_math import knn_top1, linear_top1
from videomae.training.online_probe import OnlineProbe
from videomae.training.online_probe_attentive import attentive_top1
from videomae.training.online_probe_subsets import probe_settings, probe_subsets, why_not_probed
from videomae.training.pretrain import run
from videomae.utils.errors import ConfigError

# --- math -------------------------------------------------------------------------------------


def brute_force_knn(train_f, train_y, val_f, k, temperature, num_classes) -> list[int]:
    """The solo-learn / DINO rule written out one validation feature at a time."""
    preds = []
    for v in val_f:
        sims = []
        for f, y in zip(train_f, train_y, strict=True):
            cos = float(np.dot(v, f) / (np.linalg.norm(v) * np.linalg.norm(f)))
            sims.append((cos, int(y)))
        sims.sort(key=lambda pair: -pair[0])
        votes = [0.0] * num_classes
        for cos, y in sims[:k]:
            votes[y] += np.exp(cos / temperature)
        preds.append(int(np.argmax(votes)))
    return preds


def test_knn_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    train_f, val_f = rng.normal(size=(40, 6)), rng.normal(size=(25, 6))
    train_y, val_y = rng.integers(0, 4, 40), rng.integers(0, 4, 25)
    for k, temperature in ((1, 0.07), (5, 0.07), (20, 0.5), (100, 1.0)):
        preds = brute_force_knn(train_f, train_y, val_f, k, temperature, 4)
        expected = 100.0 * np.mean(np.array(preds) == val_y)
        got = knn_top1(
            torch.tensor(train_f), torch.tensor(train_y), torch.tensor(val_f), torch.tensor(val_y),
            k=k, temperature=temperature, num_classes=4, chunk=7,
        )  # fmt: skip
        assert got == pytest.approx(expected), (k, temperature)


def test_knn_votes_are_weighted_by_similarity():
    # Two very close neighbours of class 0 outvote three farther ones of class 1 (a plain
    # majority of the 5 nearest would say 1); with a high temperature the weights flatten out.
    train_f = torch.tensor([[1.0, 0.0], [1.0, 0.05], [0.5, 0.87], [0.5, 0.86], [0.5, 0.85]])
    train_y = torch.tensor([0, 0, 1, 1, 1])
    val_f, val_y = torch.tensor([[1.0, 0.01]]), torch.tensor([0])
    assert knn_top1(train_f, train_y, val_f, val_y, k=5, temperature=0.07, num_classes=2) == 100.0
    assert knn_top1(train_f, train_y, val_f, val_y, k=5, temperature=100.0, num_classes=2) == 0.0
    # L2-normalised: scaling a feature changes nothing
    assert knn_top1(train_f * 7, train_y, val_f * 0.1, val_y, k=5, temperature=0.07, num_classes=2) == 100.0


def test_linear_probe_separates_separable_features_and_not_random_labels():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=gen) * 3
    train_y, val_y = torch.arange(200) % 5, torch.arange(100) % 5
    train_f = centres[train_y] + torch.randn(200, 16, generator=gen) + 40  # an offset: standardised away
    val_f = centres[val_y] + torch.randn(100, 16, generator=gen) + 40
    assert linear_top1(train_f, train_y, val_f, val_y, num_classes=5) == 100.0
    random_y = torch.randint(0, 5, (200,), generator=gen)
    random_val_y = torch.randint(0, 5, (100,), generator=gen)
    chance = linear_top1(torch.randn(200, 16, generator=gen), random_y, val_f, random_val_y, num_classes=5)
    assert chance < 40.0  # chance is 20%
    # deterministic, and it draws no random numbers
    state = torch.get_rng_state()
    again = [linear_top1(train_f, train_y, val_f, val_y, num_classes=5, steps=20) for _ in range(2)]
    assert again[0] == again[1] and torch.equal(state, torch.get_rng_state())


# --- subsets and settings ---------------------------------------------------------------------


def test_subsets_are_fixed_spread_over_classes_and_labeled_only():
    train = [(f"t{i}", i % 4) for i in range(40)] + [("unlabeled", -1)]
    val = [(f"v{i}", i // 5) for i in range(20)]  # sorted by class, as many lists are
    a, b, source = probe_subsets({"train": train, "val": val}, 8, 8)
    assert source == "val" and len(a) == 8 and len(b) == 8
    assert sorted(label for _, label in a) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sorted(label for _, label in b) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert (a, b) == probe_subsets({"train": train, "val": val}, 8, 8)[:2]
    everything = probe_subsets({"train": train, "val": val}, 1000, 1000)
    assert len(everything[0]) == 40 and len(everything[1]) == 20
    # no validation split: every other training video of each class is held out
    a, b, source = probe_subsets({"train": train, "val": [], "test": []}, 1000, 1000)
    assert source == "train (held out)" and len(a) == len(b) == 20 and not set(a) & set(b)
    assert sorted({label for _, label in b}) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "override, message",
    [
        ({"enabled": "yes"}, "probe.enabled='yes' is not one of auto, true, false"),
        ({"every_n_epochs": 0}, "probe.every_n_epochs=0 is out of range; allowed: an integer >= 1"),
        (
            {"train_videos": 2.5},
            "probe.train_videos=2.5 is not an integer (a fraction cannot be used); allowed: an integer >= 1",
        ),
        ({"knn_temperature": 0}, "probe.knn_temperature=0 is out of range; allowed: a number > 0"),
        ({"linear_weight_decay": -1}, "probe.linear_weight_decay=-1 is out of range; allowed: a number >= 0"),
        ({"num_workers": -1}, "probe.num_workers=-1 is out of range; allowed: an integer >= 0"),
        ({"knn": 5}, "probe.knn is not a probe setting; known: enabled, every_n_epochs"),
    ],
)
def test_bad_settings_fail_with_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        probe_settings(override)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


# --- the callback in real runs ----------------------------------------------------------------


def pretrain(run_dir, *overrides):
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose("pretrain", overrides=[*TINY, *overrides])
    return run(cfg, str(run_dir))


def metric_rows(run_dir, key) -> list[dict]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [row for row in csv.DictReader(f) if row.get(key)]


def losses(run_dir) -> dict[int, float]:
    return {int(r["step"]): float(r["train/loss"]) for r in metric_rows(run_dir, "train/loss")}


def rng_fingerprint() -> tuple:
    return (
        torch.get_rng_state().numpy().tobytes(),
        str(np.random.get_state()[1][:8]) + str(np.random.get_state()[2]),
        random.getstate(),
    )


@pytest.mark.slow
def test_probe_in_a_real_run_logs_the_baseline_and_leaves_training_alone(
    tmp_path, synthetic_root, monkeypatch, capsys
):
    """16 videos / batch 2 = 8 steps an epoch; 12 steps: epoch 0 (before training), 1, and the end;
    the same losses with the probe off; then resumed."""
    evaluate = OnlineProbe.evaluate
    calls = []

    def checked(self, trainer, pl_module):  # every generator as it was, though the probe drew numbers
        before = rng_fingerprint()
        result = evaluate(self, trainer, pl_module)
        assert rng_fingerprint() == before
        calls.append(trainer.global_step)
        return result

    monkeypatch.setattr(OnlineProbe, "evaluate", checked)
    common = [
        *tiny_overrides(synthetic_root),
        "logger=csv",
        "trainer.log_every_n_steps=1",
        "trainer.max_steps=12",
        "probe.every_n_epochs=1",
        "probe.num_workers=0",  # decoded in this process, so the probe's own draws are visible here
    ]
    with_probe = tmp_path / "with"
    pretrain(with_probe, *common)
    out = capsys.readouterr().out
    # The validation views are seeded per video now (data.sampling_mode=original) and draw nothing
    # from the global generators; the restore still guards every other draw, and the losses below
    # must equal those of a run without the probe.
    assert calls == [0, 8, 12]
    rows = metric_rows(with_probe, "probe/knn_top1")
    assert [(r["epoch"], r["step"]) for r in rows] == [("0", "0"), ("1", "8"), ("1.5", "12")]
    assert all(0 <= float(r["probe/knn_top1"]) <= 100 and r["probe/linear_top1"] for r in rows)
    history = json.loads((with_probe / "probe.json").read_text())
    assert [(h["epoch"], h["step"], h["train_videos"], h["val_videos"]) for h in history] == [
        (0, 0, 16, 8), (1, 8, 16, 8), (1.5, 12, 16, 8)
    ]  # fmt: skip
    assert [float(r["probe/knn_top1"]) for r in rows] == [h["knn_top1"] for h in history]
    assert "probe epoch 0: knn " in out and "(16 train / 8 val videos" in out

    without = tmp_path / "without"
    pretrain(without, *common, "probe.enabled=false")
    assert not (without / "probe.json").exists() and not metric_rows(without, "probe/knn_top1")
    assert losses(with_probe) == losses(without) and len(losses(without)) == 12

    # resumed (from step 12): no second baseline, no epoch twice, the earlier evaluations kept
    calls.clear()
    pretrain(with_probe, *common, "trainer.max_steps=16", "ckpt_path=last")
    history = json.loads((with_probe / "probe.json").read_text())
    assert calls == [16]
    assert [(h["epoch"], h["step"]) for h in history] == [(0, 0), (1, 8), (1.5, 12), (2, 16)]


def make_folder(root, video_bank, classes=("a", "b", "c"), per_class=4, broken=None):
    kinds = ("mp4", "mp4_b", "avi", "webm")
    for c, name in enumerate(classes):
        for i in range(per_class):
            place(video_bank, kinds[(c + i) % len(kinds)], os.path.join(root, name, f"{i}.mp4"))
    if broken:
        place(video_bank, "garbage", os.path.join(root, broken))


def test_folder_dataset_with_classes_and_a_broken_video(tmp_path, video_bank):
    root = tmp_path / "videos"
    make_folder(str(root), video_bank, broken="b/9_broken.mp4")
    run_dir = tmp_path / "run"
    pretrain(
        run_dir, "dataset=folder", f"data.root={root}", "data.sampling_rate=2", "logger=csv",
        "trainer.max_steps=2", "probe.num_workers=0",
    )  # fmt: skip
    history = json.loads((run_dir / "probe.json").read_text())
    # 13 labeled videos and no val split: 7 training (broken one included) and 6 held out; the broken
    # one is skipped and counted, not replaced by another video
    assert [(h["epoch"], h["step"]) for h in history] == [(0, 0), (0.333, 2)]
    for h in history:
        assert h["train_videos"] + h["val_videos"] == 12 and h["skipped_videos"] == 1
    assert len(metric_rows(run_dir, "probe/linear_top1")) == 2
    summary = json.loads((run_dir / "summary.json").read_text())  # the last evaluation, for report.py
    assert summary["probe/knn_top1"] == history[-1]["knn_top1"]
    assert summary["probe/linear_top1"] == history[-1]["linear_top1"]


@pytest.mark.slow
def test_unlabeled_data_turns_the_probe_off_and_true_fails_with_one_line(tmp_path, video_bank):
    root = tmp_path / "flat"
    for i, kind in enumerate(("mp4", "mp4_b", "avi", "webm")):
        place(video_bank, kind, str(root / f"{i}.mp4"))
    run_dir = tmp_path / "run"
    folder = ["dataset=folder", f"data.root={root}", "data.sampling_rate=2"]
    pretrain(run_dir, *folder, "logger=csv", "trainer.log_every_n_steps=1")
    assert not (run_dir / "probe.json").exists() and not metric_rows(run_dir, "probe/knn_top1")
    args = [*TINY, *folder, "probe.enabled=true", f"hydra.run.dir={tmp_path / 'r2'}"]
    result = run_script("pretrain.py", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: probe.enabled=true, but the training list has 0 labeled videos in 0 classes: the probe "
        "needs labeled videos of at least 2 classes"
    )
    assert result.stderr.strip().count("\n") == 0, result.stderr


@pytest.mark.serial
@pytest.mark.slow
def test_ddp_counts_each_video_once_and_matches_one_process(tmp_path, synthetic_root):
    """15 training + 8 validation videos over 2 ranks (12 and 11: one rank pads); the random-init
    values equal those of a one-process run with the same seed."""
    args = [*tiny_overrides(synthetic_root), "logger=csv", "probe.train_videos=15"]
    single = tmp_path / "single"
    pretrain(single, *args, "trainer.max_steps=1", "probe.num_workers=0")
    ddp = tmp_path / "ddp"
    result = run_script(
        "pretrain.py", *args, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp",
        "trainer.max_steps=4", "+trainer.enable_progress_bar=false", f"hydra.run.dir={ddp}",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("probe epoch 0:") == 1  # rank 0 alone reports
    first = json.loads((single / "probe.json").read_text())[0]
    history = json.loads((ddp / "probe.json").read_text())
    assert [(h["epoch"], h["step"], h["train_videos"], h["val_videos"]) for h in history] == [
        (0, 0, 15, 8), (1, 4, 15, 8)
    ]  # fmt: skip
    assert history[0]["knn_top1"] == pytest.approx(first["knn_top1"])
    assert abs(history[0]["linear_top1"] - first["linear_top1"]) <= 100 / 8 + 1e-6
    assert len(metric_rows(ddp, "probe/knn_top1")) == 2


def test_why_not_probed_names_the_real_cause():
    seven = [(f"t{i}", i % 3) for i in range(7)]  # 7 videos in 3 classes
    val = [("v0", 0), ("v1", 1)]
    train, chosen_val, _ = probe_subsets({"train": seven, "val": val}, 1, 1000)
    reason = why_not_probed({"train": seven, "val": val}, train, chosen_val, 1)
    assert reason == (
        "probe.train_videos=1 picks 1 of the 7 labeled training videos, too few to hold 2 of their 3 "
        "classes: set probe.train_videos to at least 2 (3 or more gives every class a share)"
    )
    train, chosen_val, _ = probe_subsets({"train": seven, "val": val}, 2, 1000)
    assert why_not_probed({"train": seven, "val": val}, train, chosen_val, 2) is None
    one_class = [(f"t{i}", 0) for i in range(5)] + [("u", -1)]
    train, chosen_val, _ = probe_subsets({"train": one_class}, 1000, 1000)
    assert why_not_probed({"train": one_class}, train, chosen_val, 1000).startswith(
        "the training list has 5 labeled videos in 1 classes: the probe needs labeled videos of at least 2"
    )


@pytest.mark.slow
def test_a_too_small_training_subset_is_named_at_start_up(tmp_path, video_bank):
    """The issue's case: 7 videos in 3 classes, probe.train_videos=1: the setting is the cause."""
    root = tmp_path / "videos"
    make_folder(str(root), video_bank, per_class=3)
    for name in ("1.mp4", "2.mp4"):
        os.remove(root / "c" / name)  # 7 videos: 3, 3 and 1
    args = [*TINY, "dataset=folder", f"data.root={root}", "probe.enabled=true", "probe.train_videos=1"]
    result = run_script("pretrain.py", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert (
        "probe.train_videos=1 picks 1 of the 7 labeled training videos, too few to hold 2 of their 3"
        in result.stderr
    )
    assert "no labels of 2 or more classes" not in result.stderr


@pytest.mark.slow
def test_sigkill_and_resume_keep_every_probe_row_of_probe_json(tmp_path, synthetic_root):
    """Killed (SIGKILL) once the epoch-1 checkpoint is on disk, then resumed: every evaluation in
    probe.json has its metrics.csv row, and summary.json the last one."""
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, os.path.join(REPO, "scripts", "pretrain.py"), *tiny_overrides(synthetic_root),
        "logger=csv", "trainer.log_every_n_steps=1", "trainer.max_steps=24", "probe.every_n_epochs=1",
        "probe.num_workers=0", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    proc = popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last, deadline = run_dir / "checkpoints" / "last.ckpt", time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and torch.load(last, weights_only=True)["global_step"] >= 8:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    saved = torch.load(last, weights_only=True)["global_step"]
    assert 8 <= saved < 24
    resumed = run_command([*cmd, "ckpt_path=last"], cwd=REPO, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((run_dir / "probe.json").read_text())
    assert [h["step"] for h in history] == [0, 8, 16, 24]
    rows = {int(r["step"]): float(r["probe/knn_top1"]) for r in metric_rows(run_dir, "probe/knn_top1")}
    assert rows == {h["step"]: h["knn_top1"] for h in history}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["probe/knn_top1"] == history[-1]["knn_top1"]


@pytest.mark.slow
def test_the_online_probe_can_be_attentive(tmp_path, synthetic_root):
    """probe.kind=attentive: the V-JEPA head fit on the frozen tokens at every probe epoch, beside
    kNN and linear, in probe.json, metrics.csv and summary.json; with the same settings again the
    same value (deterministic)."""
    args = [*tiny_overrides(synthetic_root), "logger=csv", "trainer.max_steps=2", "probe.kind=attentive",
            "probe.attentive_epochs=3", "probe.attentive_heads=2"]  # fmt: skip
    pretrain(tmp_path / "a", *args)
    pretrain(tmp_path / "b", *args)
    history = [json.loads((tmp_path / r / "probe.json").read_text()) for r in ("a", "b")]
    assert len(history[0]) == 2 and history[0][0]["epoch"] == 0  # the random-init baseline, the end
    assert all(0 <= h["attentive_top1"] <= 100 for h in history[0])
    assert [h["attentive_top1"] for h in history[0]] == [h["attentive_top1"] for h in history[1]]
    assert len(metric_rows(tmp_path / "a", "probe/attentive_top1")) == 2
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["probe/attentive_top1"] == history[0][-1]["attentive_top1"]


def test_attentive_online_probe_learns_separable_tokens():
    torch.manual_seed(0)
    centers = torch.randn(3, 8) * 3
    y = torch.arange(60) % 3
    x = centers[y][:, None, :] + 0.3 * torch.randn(60, 5, 8)  # (M, N=5 tokens, D=8)
    settings = replace(probe_settings({}), attentive_epochs=30, attentive_heads=2, attentive_lr=1e-2)
    assert attentive_top1(x[:40], y[:40], x[40:], y[40:], 3, settings, batch_size=8) == 100.0
    shuffled = y[torch.randperm(60)]
    assert attentive_top1(x[:40], shuffled[:40], x[40:], shuffled[40:], 3, settings, batch_size=8) < 80
