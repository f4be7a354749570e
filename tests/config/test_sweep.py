"""Sweeps: Hydra multirun through the submitit launchers, checked before launch, and the report."""

import csv
import glob
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from helpers import REPO, TINY, run_command, run_script, tiny_overrides
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from videomae.config.preflight import CONFIG_DIR, preflight, quiet_launcher_schema_warning
from videomae.report import report
from videomae.training import finetune, pretrain
from videomae.training.summary import RunSummary


def composed(config_name: str, overrides: list[str]):
    quiet_launcher_schema_warning()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name=config_name):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def sbatch_script(cfg, folder, monkeypatch) -> str:
    """The sbatch file submitit writes for this launcher config, parameters mapped as the plugin does."""
    import submitit

    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun here
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    params.pop("submitit_folder")
    max_num_timeout = params.pop("max_num_timeout")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=max_num_timeout)
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -m submitit.core._submit x", "uid")


def test_slurm_launcher_asks_for_one_task_per_gpu_and_sigusr1(tmp_path, monkeypatch):
    cfg = composed(
        "pretrain",
        ["hydra/launcher=submitit_slurm", "trainer.devices=8", "trainer.num_nodes=2",
         "hydra.launcher.partition=gpu", "hydra.launcher.account=proj", "hydra.launcher.constraint=a100"],
    )  # fmt: skip
    lines = set(sbatch_script(cfg, tmp_path, monkeypatch).splitlines())
    for flag in ("--nodes=2", "--ntasks-per-node=8", "--gpus-per-node=8", "--time=1440",
                 "--signal=USR1@120", "--partition=gpu", "--account=proj", "--constraint=a100"):  # fmt: skip
        assert f"#SBATCH {flag}" in lines, (flag, sorted(lines))
    assert "#SBATCH --requeue" in lines
    assert not any("USR2" in line for line in lines)  # submitit's own signal would pre-empt Lightning's


def test_local_launcher_runs_one_task_per_job():
    cfg = composed("pretrain", ["hydra/launcher=submitit_local", "trainer.devices=2"])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["tasks_per_node"] == 1 and launcher["nodes"] == 1
    assert launcher["_target_"].endswith("LocalLauncher")


@pytest.mark.parametrize("config_name", ["pretrain", "finetune"])
def test_sweep_jobs_get_their_own_numbered_run_directory(config_name):
    cfg = composed(config_name, ["hydra.sweep.dir=/sweeps/x"])
    assert OmegaConf.to_container(cfg.hydra.sweep) == {"dir": "/sweeps/x", "subdir": "${hydra.job.num}"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-m", "mask.ratio=0.75,1.5"],
         "error: sweep job 1 of 2 (mask.ratio=1.5): mask.ratio=1.5 must be between 0 and 1"),
        (["-m", "mask.ratio=0.9", "hydra/launcher=nope"],
         "error: hydra/launcher=nope is not one of basic, submitit_local, submitit_slurm"),
        (["hydra/launcher=nope"], "error: hydra/launcher=nope is not one of basic"),
        (["-m", "logger=csv,nope"], "error: sweep job 1 of 2 (logger=nope): logger=nope is not one of"),
        (["-m", "data.input_size=32,50", "model.patch_size=16"],
         "(data.input_size=50): data.input_size=50 is not divisible by model.patch_size=16"),
        (["-m", "hydra/launcher=submitit_slurm", "mask.ratio=0.9,0.95"],
         "hydra.launcher.gpus_per_node=${trainer.devices} is 'auto'"),
        (["-m", "mask.ratio=0.5,0.9", "mask.type=tube,block"],
         "sweep job 1 of 4 (mask.ratio=0.5 mask.type=block) (and 1 more jobs): mask.type='block' is not"),
    ],
)  # fmt: skip
def test_bad_sweep_values_fail_before_any_job_with_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        preflight("pretrain", [*argv, f"data.root={tmp_path}"], pretrain.check_config)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.endswith("; no job was launched\n"), err
    assert err.count("\n") == 1, err


def test_good_sweeps_and_single_runs_pass_the_preflight(tmp_path, capsys):
    preflight(
        "pretrain", ["-m", "mask.ratio=0.75,0.9", "hydra/launcher=submitit_local"], pretrain.check_config
    )
    preflight("pretrain", ["mask.ratio=1.5"], pretrain.check_config)  # no sweep: the run itself checks
    preflight("finetune", ["-m", "optim.base_lr=1e-3,5e-4"], finetune.check_config)
    assert capsys.readouterr().err == ""


def test_unknown_launcher_launches_nothing(tmp_path):
    result = run_script(
        "pretrain.py",
        "-m",
        "mask.ratio=0.75,0.9",
        "hydra/launcher=slurm",
        f"hydra.sweep.dir={tmp_path / 's'}",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: hydra/launcher=slurm is not one of basic, submitit_local, submitit_slurm; no job was launched"
    )
    assert not (tmp_path / "s").exists()


def test_summary_marks_failed_and_running_runs_and_the_report_shows_them(tmp_path, synthetic_root):
    cfg = composed("pretrain", [*TINY, f"data.root={tmp_path / 'not_there'}", "dataset=folder"])
    failed_dir = tmp_path / "runs" / "failed"
    with pytest.raises(Exception, match="not a directory"):
        pretrain.run(cfg, str(failed_dir))
    failed = json.loads((failed_dir / "summary.json").read_text())
    assert failed["status"] == "failed" and "not a directory" in failed["error"]
    assert failed["model"]["name"] == "vit_tiny" and failed["version"]

    running_dir = tmp_path / "runs" / "running"
    RunSummary(str(running_dir), "pretrain", overrides=["mask.ratio=0.5"]).__enter__()  # a live run
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "summary.json").write_text('{"status": "compl')  # not JSON

    result = report([str(tmp_path / "runs")])
    status = {row[0]: row[result["header"].index("status")] for row in result["rows"]}
    assert status == {"failed": "failed", "running": "running", "broken": "unreadable"}
    assert os.path.isfile(tmp_path / "runs" / "report.md") and os.path.isfile(
        tmp_path / "runs" / "report.csv"
    )


@pytest.mark.slow
def test_local_sweep_runs_each_job_in_its_own_directory_then_reports(tmp_path, synthetic_root):
    """The issue's check: `-m mask.ratio=... hydra/launcher=submitit_local`, then scripts/report.py.
    Run from tmp_path without hydra.sweep.dir, so the default (timestamped) sweep directory is used."""
    args = [*tiny_overrides(synthetic_root), "logger=csv", "trainer.max_steps=3",
            "trainer.log_every_n_steps=1", "+trainer.enable_progress_bar=false", "viz.every_n_epochs=0",
            "ckpt_path=auto"]  # fmt: skip
    cmd = [sys.executable, os.path.join(REPO, "scripts", "pretrain.py"), "-m", "mask.ratio=0.5,0.75"]
    cmd += ["hydra/launcher=submitit_local", *args]
    result = run_command(cmd, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = glob.glob(str(tmp_path / "runs" / "pretrain" / "multirun" / "*"))
    for num, ratio in enumerate([0.5, 0.75]):
        run_dir = os.path.join(sweep, str(num))
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
        assert summary["status"] == "completed" and summary["steps"] == 3
        assert f"mask.ratio={ratio}" in summary["overrides"]
        assert summary["checkpoint"] == os.path.join(run_dir, "checkpoints", "last.ckpt")
        assert summary["clips_per_s"] > 0 and summary["final_loss"] > 0 and summary["params"] > 0
        ckpt = torch.load(summary["checkpoint"], weights_only=True, map_location="cpu")
        assert ckpt["hyper_parameters"]["mask"]["ratio"] == ratio and ckpt["global_step"] == 3

    # A requeue reruns the job's pickled submission with the same job id (what SLURM does after
    # Lightning's `scontrol requeue`): it must find its own run directory and resume there.
    submitted = sorted(glob.glob(os.path.join(sweep, ".submitit", "*", "*_submitted.pkl")))
    assert len(submitted) == 2
    job_id = os.path.basename(submitted[0]).split("_")[0]
    summaries = [os.path.join(sweep, str(num), "summary.json") for num in range(2)]
    before = [json.load(open(path))["started_at"] for path in summaries]
    env = {**os.environ, "SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": job_id,
           "SUBMITIT_LOCAL_NTASKS": "1", "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_NODEID": "0",
           "SUBMITIT_LOCAL_GLOBALID": "0", "SUBMITIT_LOCAL_LOCALID": "0"}  # fmt: skip
    folder = os.path.join(sweep, ".submitit", "%j")
    time.sleep(1)  # started_at has a resolution of a second
    again = subprocess.run([sys.executable, "-m", "submitit.core._submit", folder], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Restored all states from the checkpoint" in again.stdout + again.stderr
    assert glob.glob(str(tmp_path / "runs" / "pretrain" / "multirun" / "*")) == [sweep]
    after = [json.load(open(path)) for path in summaries]
    rerun = [num for num in range(2) if after[num]["started_at"] != before[num]]
    assert len(rerun) == 1 and after[rerun[0]]["status"] == "completed" and after[rerun[0]]["steps"] == 3

    out = tmp_path / "report"
    result = run_script("report.py", sweep, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["mask.ratio"] for r in rows] == ["0.5", "0.75"]
    assert all(r["status"] == "completed" and r["steps"] == "3" for r in rows)
    assert "data.root" not in rows[0]  # the same in every run: not a column
    assert "| mask.ratio |" in (out / "report.md").read_text() and "| 0.75 |" in result.stdout
    assert (out / "loss.png").stat().st_size > 10_000


def test_report_lines_fine_tuning_up_with_its_pre_training_and_folds_in_its_test(tmp_path):
    for num, ratio in enumerate(["0.5", "0.9"]):
        with RunSummary(str(tmp_path / "pre" / str(num)), "pretrain", overrides=[f"mask.ratio={ratio}"]):
            pass
        ft_dir = tmp_path / "ft" / str(num)
        with RunSummary(
            str(ft_dir), "finetune", overrides=[f"pretrained={tmp_path / 'pre' / str(num)}"]
        ) as s:
            s.update(pretrained=str(tmp_path / "pre" / str(num) / "checkpoints" / "last.ckpt"))
        with RunSummary(str(ft_dir / "eval"), "evaluate", overrides=[f"checkpoint={ft_dir}"]) as s:
            s.update(**{"test/top1": 10.0 + num, "test/mean_class": 5.0})
    result = report([str(tmp_path / "ft")])
    header, rows = result["header"], result["rows"]
    assert len(rows) == 2  # each test folded into its fine-tuning run's row
    ratio, top1 = header.index("pretrain:mask.ratio"), header.index("test top-1")
    assert [(row[ratio], row[top1]) for row in rows] == [("0.5", 10.0), ("0.9", 11.0)]
    assert "| test top-1 |" in result["text"] and "| 11.00 |" in result["text"]


@pytest.mark.slow
def test_a_sweep_job_that_fails_at_run_time_is_reported_in_one_line(tmp_path, synthetic_root):
    """Not submitit's 40-line traceback naming "task: 0": the job's number, its overrides, its run
    directory and the error; the other job's outcome too; exit status 1."""
    args = [*tiny_overrides(synthetic_root), "trainer.max_steps=1", "+trainer.enable_progress_bar=false",
            "viz.every_n_epochs=0", "probe.enabled=false",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    cmd = [sys.executable, os.path.join(REPO, "scripts", "pretrain.py"), "-m", "ckpt_path=auto,last"]
    result = run_command(
        [*cmd, "hydra/launcher=submitit_local", *args],
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "task: 0" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert f"sweep job 0 (ckpt_path=auto): completed at step 1; run dir {tmp_path / 'sweep' / '0'}" in lines
    (failed,) = [line for line in lines if line.startswith("sweep job 1 (ckpt_path=last): failed: ")]
    assert "ckpt_path=last: nothing to resume" in failed and f"run dir {tmp_path / 'sweep' / '1'}" in failed
    assert result.stderr.strip().splitlines()[-1] == "error: 1 of 2 sweep jobs failed (job 1)"
