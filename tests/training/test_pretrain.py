"""`scripts/pretrain.py` end to end in fresh processes, as a user runs it."""

import csv
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO, run_script, tiny_overrides


def read_metric(run_dir, key):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


@pytest.mark.slow
def test_demo_config_trains_and_loss_falls(tmp_path):
    """The issue's check: the demo config for 30 steps with a CSV logger (on fewer of its
    videos, and the online probe on a few of them, so that generating and probing is short)."""
    run_dir = tmp_path / "run"
    result = run_script(
        "pretrain.py",
        "trainer.max_steps=30",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        f"data.root={tmp_path / 'data'}",
        "data.synthetic.num_train_per_class=12",
        "data.synthetic.num_val_per_class=2",
        "probe.train_videos=16",
        "probe.val_videos=16",
        "trainer.log_every_n_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert f"checkpoint: {last}" in result.stdout
    losses = read_metric(run_dir, "train/loss")
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.01, losses
    assert read_metric(run_dir, "train/clips_per_sec")[-1] > 0
    assert read_metric(run_dir, "train/lr")[-1] > 0

    # A new process rebuilds the model from the checkpoint alone, without executing code from it.
    check = textwrap.dedent(f"""
        import torch
        from videomae import create_pretrain_model
        from videomae.models.masking import MaskGenerator
        ckpt = torch.load({str(last)!r}, weights_only=True, map_location="cpu")
        assert ckpt["global_step"] == 30
        model = create_pretrain_model(**ckpt["hyper_parameters"]["model"])
        state = {{k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}}
        model.load_state_dict(state, strict=True)
        mask = MaskGenerator("tube", 0.9, model.grid)(2)
        loss, pred = model.eval()(torch.randn(2, 3, 8, 64, 64), mask)
        assert torch.isfinite(loss)
        print("reloaded", pred.shape[1])
    """)
    out = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "reloaded" in out.stdout


@pytest.mark.slow
def test_resume_from_last_checkpoint(tmp_path, synthetic_root):
    run_dir = tmp_path / "run"
    args = [*tiny_overrides(synthetic_root), "logger=csv", f"hydra.run.dir={run_dir}"]
    first = run_script("pretrain.py", *args, "trainer.max_steps=3")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_script("pretrain.py", *args, "trainer.max_steps=6", "ckpt_path=last")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "pre-training done: 6 steps" in second.stdout
    assert "Restored all states from the checkpoint" in second.stdout + second.stderr


@pytest.mark.slow
@pytest.mark.parametrize("logger", ["tensorboard", "wandb", "none"])
def test_loggers(tmp_path, synthetic_root, logger):
    run_dir = tmp_path / "run"
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        f"logger={logger}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=2",
        "trainer.log_every_n_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = [os.path.join(d, f) for d, _, fs in os.walk(run_dir) for f in fs]
    if logger == "tensorboard":
        assert any("events.out.tfevents" in f for f in files)
    elif logger == "wandb":
        assert any(f.endswith(".wandb") and "offline-run" in f for f in files), files
    else:
        assert not any(f.endswith(("metrics.csv", ".wandb")) or "tfevents" in f for f in files)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["mask.ratio=1.5"], "error: mask.ratio=1.5 must be between 0 and 1"),
        (["mask.type=block"], "error: mask.type='block' is not one of tube, random"),
        (["dataset=k400"], "error: data.root is not set: dataset=k400 needs data.root=DIR"),
        (["data.root="], "error: data.root is not set: dataset=synthetic needs data.root=DIR"),
        (["dataset=ucf101", "data.root=/no/such/dir"], "error: data.root=/no/such/dir is not a directory"),
        (["data.num_frames=5"], "error: data.num_frames=5 is not divisible by model.tubelet_size=2"),
        (["data.input_size=50"], "error: data.input_size=50 is not divisible by model.patch_size=8"),
        (["probe.every_n_epochs=0"], "error: probe.every_n_epochs=0 is out of range; allowed: an integer"),
        (["logger=nope"], "Could not find 'logger/nope'"),
    ],
)
def test_bad_overrides_fail_fast_with_one_clear_line(tmp_path, args, message):
    result = run_script("pretrain.py", *args, f"hydra.run.dir={tmp_path}", timeout=60)
    assert result.returncode != 0
    assert message in result.stderr
    if message.startswith("error:"):
        assert result.stderr.strip().count("\n") == 0, result.stderr
