"""A killed run, resumed, trains on exactly what the uninterrupted run trained on."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import REPO, TINY, popen, run_command, tiny_overrides, write_clip
from hydra import compose, initialize_config_dir

from videomae.training import finetune
from videomae.training.pretrain import run
from videomae.utils.errors import ConfigError

STEPS = 40  # 16 tiny videos / batch 2 = 8 steps per epoch: the runs cross several epoch ends


def pretrain_cmd(data_root, run_dir, *extra):
    return [
        sys.executable,
        os.path.join(REPO, "scripts", "pretrain.py"),
        *tiny_overrides(data_root),
        "data.num_workers=1",
        "logger=csv",
        "trainer.log_every_n_steps=1",
        f"trainer.max_steps={STEPS}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def losses(run_dir) -> dict[int, float]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


def interrupt(cmd, run_dir, sig, after_step) -> int:
    """Start a run, send `sig` once it has checkpointed past `after_step`; returns the saved step."""
    proc = popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = os.path.join(run_dir, "checkpoints", "last.ckpt")
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(last) and torch.load(last, weights_only=True)["global_step"] >= after_step:
            break  # the first epoch is saved: the run is now in the middle of the next one
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return torch.load(last, weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic_root):
    run_dir = tmp_path_factory.mktemp("reference")
    result = run_command(pretrain_cmd(synthetic_root, run_dir), cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    steps = losses(run_dir)
    assert len(steps) == STEPS
    return steps


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_resumed_run_matches_the_uninterrupted_one(tmp_path, synthetic_root, reference, sig):
    run_dir = tmp_path / "run"
    saved = interrupt(pretrain_cmd(synthetic_root, run_dir), run_dir, sig, after_step=8)
    assert 8 <= saved < STEPS
    status = json.loads((run_dir / "summary.json").read_text())["status"]
    if sig == signal.SIGTERM:
        assert saved % 8 != 0, "SIGTERM should have checkpointed mid-epoch"
        assert status == "stopped"
    else:
        assert status == "running"  # nothing runs after SIGKILL: the report shows it as running
    resumed = run_command(pretrain_cmd(synthetic_root, run_dir, "ckpt_path=last"), cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"pre-training done: {STEPS} steps" in resumed.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == STEPS
    after = {step: loss for step, loss in losses(run_dir).items() if step >= saved}
    assert sorted(after) == list(range(saved, STEPS))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), (step, loss, reference[step])


def test_a_fresh_start_over_a_run_is_refused_and_a_resume_continues_its_metrics(tmp_path, synthetic_root):
    """A second fresh run in the same directory would overwrite the first one's checkpoint: it is
    refused, naming the fix. A resume keeps the metrics.csv rows of the steps before it."""

    def cfg(*extra):
        overrides = [*TINY, *tiny_overrides(synthetic_root), "logger=csv", "trainer.log_every_n_steps=1"]
        with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
            return compose("pretrain", overrides=[*overrides, "probe.enabled=false", *extra])

    run_dir = str(tmp_path / "run")
    run(cfg("trainer.max_steps=2"), run_dir)
    with pytest.raises(ConfigError, match="already holds a run .*ckpt_path=last"):
        run(cfg("trainer.max_steps=4"), run_dir)
    run(cfg("trainer.max_steps=4", "ckpt_path=last"), run_dir)
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")]
    assert steps == [0, 1, 2, 3]


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_every_epoch_end_is_saved_when_validation_runs_less_often(tmp_path, synthetic_root, stage):
    """Lightning's default saves at validation's end once validation skips epochs: a pre-training
    run (no validation split) then saved nothing, and a fine-tuning run validated every 2 of 3
    epochs ended on epoch 2's weights."""
    overrides = [*TINY, *tiny_overrides(synthetic_root)]
    if stage == "pretrain":
        overrides += ["probe.enabled=false", "viz.every_n_epochs=0"]
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose(stage, overrides=[*overrides, "trainer.max_steps=-1", "trainer.max_epochs=3",
                      "+trainer.check_val_every_n_epoch=2", "checkpoint.every_n_epochs=3"])  # fmt: skip
    {"pretrain": run, "finetune": finetune.run}[stage](cfg, str(tmp_path))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 24)  # 8 steps an epoch
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch0002.ckpt", "last.ckpt"]


@pytest.mark.slow
def test_sigterm_to_every_process_with_workers_saves_and_resumes(tmp_path, synthetic_root, reference):
    """SLURM sends SIGTERM to every process of the job step, DataLoader workers included: the
    workers must not die of it (the run would fail), the run saves last.ckpt and exits 143."""
    run_dir, pace = tmp_path / "run", tmp_path / "pace"
    pace.mkdir()
    extra = ["+callbacks.pace._target_=slurm_probe.Pace", f"+callbacks.pace.out_dir={pace}"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.join(REPO, "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    log = open(tmp_path / "log.txt", "w+")
    proc = popen(pretrain_cmd(synthetic_root, run_dir, *extra), cwd=REPO, env=env, stdout=log,
                 stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        text = (pace / "run.txt").read_text() if (pace / "run.txt").exists() else "0 0"
        if int(text.split()[1]) >= 11:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # the run and its workers, as SLURM signals a step
    proc.wait(timeout=120)
    out = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 143, out[-3000:]
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 11 <= saved < STEPS and f"stopped by SIGTERM at step {saved}" in out
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("hpc_ckpt")]
    resumed = run_command(pretrain_cmd(synthetic_root, run_dir, "ckpt_path=last"), cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = {step: loss for step, loss in losses(run_dir).items() if step >= saved}
    assert sorted(after) == list(range(saved, STEPS))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), (step, loss, reference[step])


def loss_rows(run_dir) -> list[tuple[int, float]]:
    """Every training-loss row of metrics.csv, in file order (a dict by step would hide a row
    written twice)."""
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as f:
        return [(int(r["step"]), float(r["train/loss"])) for r in csv.DictReader(f) if r.get("train/loss")]


def kill_past_checkpoint(cmd, run_dir, after_step) -> int:
    """Start a run and SIGKILL it once its checkpoint is past `after_step` and metrics.csv holds
    rows of two steps after the checkpoint's; returns the checkpoint's step."""
    proc = popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = os.path.join(run_dir, "checkpoints", "last.ckpt")
    deadline, saved = time.time() + 180, -1
    while time.time() < deadline and proc.poll() is None:
        if saved < after_step and os.path.exists(last):
            saved = torch.load(last, weights_only=True)["global_step"]
        elif saved >= after_step and max((s for s, _ in loss_rows(run_dir)), default=-1) >= saved + 1:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.kill()
    proc.wait(timeout=120)
    return torch.load(last, weights_only=True)["global_step"]


@pytest.mark.slow
def test_sigkill_and_resume_leave_every_step_once_in_metrics_csv(tmp_path, synthetic_root, reference):
    """Rows of steps before the checkpoint must be on disk when it is (they are never logged
    again), and rows of steps after it, which the resume logs again, must not stay twice."""
    run_dir = tmp_path / "run"
    cmd = pretrain_cmd(synthetic_root, run_dir, "probe.enabled=false")
    saved = kill_past_checkpoint(cmd, run_dir, after_step=8)
    assert 8 <= saved < STEPS and max(s for s, _ in loss_rows(run_dir)) > saved
    resumed = run_command([*cmd, "ckpt_path=last"], cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = loss_rows(run_dir)
    assert [step for step, _ in rows] == list(range(STEPS))
    for step, loss in rows:
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), (step, loss, reference[step])


@pytest.mark.slow
def test_a_killed_finetuning_run_resumed_labels_every_step_once(tmp_path):
    """Fine-tuning on a folder without a val split checkpoints at epoch ends with no validation:
    Lightning restarted the row step one too high, so after a resume every row was labelled a
    step late (step 4 missing, the last step written as max_steps)."""
    root = tmp_path / "videos"
    for c in range(3):
        for i in range(3):
            (root / f"c{c}").mkdir(parents=True, exist_ok=True)
            write_clip(str(root / f"c{c}" / f"v{i}.mp4"), seed=10 * c + i)
    steps = 16
    tiny = [a for a in TINY if not a.startswith(("logger=", "trainer.max_steps="))]
    script = os.path.join(REPO, "scripts", "finetune.py")
    base = [sys.executable, script, *tiny, "dataset=folder", f"data.root={root}", "logger=csv",
            "trainer.log_every_n_steps=1", f"trainer.max_steps={steps}"]  # fmt: skip
    reference = run_command([*base, f"hydra.run.dir={tmp_path / 'ref'}"], cwd=REPO)
    assert reference.returncode == 0, reference.stderr[-2000:]
    cmd = [*base, f"hydra.run.dir={tmp_path / 'run'}"]
    saved = kill_past_checkpoint(cmd, tmp_path / "run", after_step=1)
    resumed = run_command([*cmd, "ckpt_path=last"], cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows, expected = loss_rows(tmp_path / "run"), loss_rows(tmp_path / "ref")
    assert 0 < saved < steps and [s for s, _ in rows] == list(range(steps))
    for (step, loss), (_, ref) in zip(rows, expected, strict=True):
        assert loss == pytest.approx(ref, rel=1e-6, abs=1e-7), (step, loss, ref)


@pytest.mark.slow
def test_a_killed_run_sampled_by_time_resumes_exactly(tmp_path, synthetic_root):
    """As test_resume does for index sampling: the resumed run's losses equal the uninterrupted run's."""
    fps = ["data.sampling=fps", "data.target_fps=6", "probe.enabled=false"]
    reference = tmp_path / "reference"
    done = run_command(pretrain_cmd(synthetic_root, reference, *fps))
    assert done.returncode == 0, done.stderr[-2000:]
    expected = losses(reference)
    run_dir = tmp_path / "run"
    saved = interrupt(pretrain_cmd(synthetic_root, run_dir, *fps), run_dir, signal.SIGKILL, after_step=8)
    resumed = run_command(pretrain_cmd(synthetic_root, run_dir, *fps, "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = {step: loss for step, loss in losses(run_dir).items() if step >= saved}
    assert sorted(after) == list(range(saved, STEPS))
    for step, loss in after.items():
        assert loss == pytest.approx(expected[step], rel=1e-6, abs=1e-7), (step, loss, expected[step])
