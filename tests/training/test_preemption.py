"""Pre-emption on a real single-node SLURM cluster (tests/slurm_cluster.py): sweeps through
`hydra/launcher=submitit_slurm`, jobs signalled as SLURM does before a time limit
(`scancel --signal=USR1` reaches every process of the step, DataLoader workers included), saved,
requeued, resumed; their losses compared step for step with jobs of the same sweep that ran
uninterrupted. Skips, saying why, where sbatch and the daemons are missing or not root."""

import csv
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import REPO, tiny_overrides
from slurm_cluster import ClusterError, SlurmCluster, skip_reason

from videomae.config.cli import other_rank_overrides
from videomae.config.preflight import job_overrides
from videomae.data.workers import WorkerInit
from videomae.training import preemption
from videomae.training.summary import RunSummary

pytestmark = pytest.mark.serial  # several processes per test: run alone

STEPS = 24  # 8 steps per epoch: the runs cross epoch ends
SWEPT = ["data.num_workers=0,2", "+callbacks.pace.role=preempted,reference"]
# Pre-empted jobs: the step after which each attempt is signalled (SIGUSR1), by data.num_workers.
PLAN = {"0": [5], "2": [5, 15]}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except (ClusterError, subprocess.SubprocessError) as err:  # packages there, daemons refused
        cluster.stop()
        pytest.skip(f"could not start a test SLURM cluster: {err}")
    yield cluster
    cluster.stop()


def sweep_cmd(script: str, root: str, sweep_dir, pace_dir, *extra: str) -> list[str]:
    tiny = [o for o in tiny_overrides(root) if not o.startswith("data.num_workers=")]
    return [
        sys.executable, os.path.join(REPO, "scripts", script), "-m", *SWEPT, *tiny,
        "hydra/launcher=submitit_slurm", "hydra.launcher.gpus_per_node=null", "hydra.launcher.timeout_min=10",
        "trainer.accelerator=cpu", "trainer.devices=1", f"trainer.max_steps={STEPS}",
        "trainer.log_every_n_steps=1", "+trainer.enable_progress_bar=false", "logger=csv", "ckpt_path=auto",
        "+callbacks.pace._target_=slurm_probe.Pace", f"+callbacks.pace.out_dir={pace_dir}",
        "+callbacks.pace.usr1_at_end=true", f"hydra.sweep.dir={sweep_dir}", *extra,
    ]  # fmt: skip


def losses(run_dir) -> list[tuple[int, float]]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [(int(r["step"]), float(r["train/loss"])) for r in csv.DictReader(f) if r.get("train/loss")]


class Sweep:
    """A sweep started in the background, and the pre-emptions sent to its jobs."""

    def __init__(self, cluster, script, root, tmp_path, *extra):
        self.cluster = cluster
        self.dir, self.pace = tmp_path / script.removesuffix(".py"), tmp_path / f"pace_{script}"
        self.pace.mkdir()
        cmd = sweep_cmd(script, root, self.dir, self.pace, *extra)
        env = {
            **cluster.env,
            "PYTHONPATH": os.pathsep.join([os.path.join(REPO, "tests"), os.environ.get("PYTHONPATH", "")]),
        }
        self.log = open(tmp_path / f"{script}.log", "w+")
        self.proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True
        )
        self.jobs = [dict(o.split("=", 1) for o in job) for job in job_overrides(SWEPT)]
        self.ids: list[str] = []
        self.sent = [0] * len(self.jobs)

    def plan(self, num: int) -> list[int]:
        job = self.jobs[num]
        return PLAN[job["data.num_workers"]] if job["+callbacks.pace.role"] == "preempted" else []

    def poll(self) -> bool:
        """Signal the jobs that are due; True while the sweep command runs."""
        if not self.ids:
            self.log.seek(0)
            found = re.search(r"sweep: \d+ jobs submitted \(slurm: ([^)]*)\)", self.log.read())
            self.ids = found.group(1).split(", ") if found else []
        for num, job_id in enumerate(self.ids):
            plan = self.plan(num)
            try:
                attempt, step = map(int, (self.pace / f"{num}.txt").read_text().split())
            except (OSError, ValueError):
                continue
            if attempt == self.sent[num] < len(plan) and step >= plan[self.sent[num]]:
                self.cluster.signal(job_id, "USR1")
                self.sent[num] += 1
        return self.proc.poll() is None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def check_sweep(sweep: Sweep) -> None:
    out = sweep.output()
    assert sweep.proc.returncode == 0, out[-4000:]
    for num in range(len(sweep.jobs)):
        plan = sweep.plan(num)
        assert sweep.sent[num] == len(plan), (num, sweep.sent, out[-3000:])
        run_dir = sweep.dir / str(num)
        state = sweep.cluster.job(sweep.ids[num])
        # exactly one requeue per signal; COMPLETED (exit 0) although each job got SIGUSR1 after its last step
        assert (state["JobState"], state["Restarts"], state["ExitCode"]) == (
            "COMPLETED",
            str(len(plan)),
            "0:0",
        )
        requeues = f", requeued {len(plan)} time" if plan else ";"
        assert re.search(rf"sweep job {num} \(.*\): completed at step {STEPS}{requeues}", out), out
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps"] == STEPS
        leftovers = [
            p for p in glob.glob(f"{run_dir}/**/*", recursive=True) if p.endswith(".tmp") or "hpc_ckpt" in p
        ]
        assert not leftovers
        logs = "".join(open(p).read() for p in glob.glob(f"{sweep.dir}/.submitit/{sweep.ids[num]}/*_log.out"))
        assert logs.count("pre-empted (SIGUSR1)") == len(plan), logs[-3000:]
    for num, job in enumerate(sweep.jobs):
        if not sweep.plan(num):
            continue
        reference = next(r for r, other in enumerate(sweep.jobs) if not sweep.plan(r)
                         and other["data.num_workers"] == job["data.num_workers"])  # fmt: skip
        got, want = losses(sweep.dir / str(num)), losses(sweep.dir / str(reference))
        assert [s for s, _ in want] == list(range(STEPS))
        assert [s for s, _ in got] == [s for s, _ in want]  # every step once, labels included
        for (step, loss), (_, expected) in zip(got, want, strict=True):
            assert loss == pytest.approx(expected, rel=1e-6, abs=1e-7), (num, step, loss, expected)


@pytest.mark.slow
def test_preempted_jobs_resume_exactly_with_and_without_workers(slurm, tmp_path, synthetic_root):
    """Pre-training and fine-tuning sweeps at once: each job with 0 or 2 DataLoader workers, one
    pre-empted once or twice, one not; all end COMPLETED with the same losses at every step."""
    sweeps = [
        Sweep(slurm, "pretrain.py", synthetic_root, tmp_path, "viz.every_n_epochs=0", "probe.enabled=false"),
        Sweep(slurm, "finetune.py", synthetic_root, tmp_path, "+trainer.num_sanity_val_steps=0"),
    ]
    deadline = time.time() + 400
    while any([sweep.poll() for sweep in sweeps]) and time.time() < deadline:
        time.sleep(0.2)
    for sweep in sweeps:
        if sweep.proc.poll() is None:
            sweep.proc.kill()
        sweep.proc.wait()
    for sweep in sweeps:
        check_sweep(sweep)


class _Pids(torch.utils.data.Dataset):
    """Item 0: the worker's pid and whether it ignores SIGUSR1; item 1 never comes (a worker stuck
    in a decode, which the loader's shutdown must still end)."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        if index == 1:
            time.sleep(600)
        return torch.tensor([os.getpid(), int(signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN)])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) is not alive
        return f.read().split(") ")[-1][0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def test_dataloader_workers_leave_slurms_signals_to_their_parent_and_still_obey_its_shutdown():
    loader = torch.utils.data.DataLoader(_Pids(), batch_size=1, num_workers=1, worker_init_fn=WorkerInit(0))
    batches = iter(loader)
    pid, ignores_usr1 = (int(v) for v in next(batches)[0])
    assert ignores_usr1 and signal.getsignal(signal.SIGUSR1) != signal.SIG_IGN  # in the worker only
    for name in ("USR1", "TERM"):  # as SLURM sends them: from another process than the parent
        subprocess.run(["kill", f"-{name}", str(pid)], check=True)
    time.sleep(1)
    assert _alive(pid), "a worker died of a signal meant for its parent"
    del batches  # the loader's shutdown: the stuck worker is joined, then terminated by its parent
    assert _gone_within(pid, 30), "the loader's shutdown could not end a worker (its SIGTERM was ignored)"


def test_requeue_names_the_array_task_and_the_summary_says_requeued(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "17")
    assert preemption.job_id() == "17"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert preemption.job_id() == "12_3"  # what scontrol requeue takes for an array task
    with pytest.raises(SystemExit), RunSummary(str(tmp_path), "pretrain", overrides=[]):
        sys.exit(preemption.REQUEUED_EXIT)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "requeued"


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK", "SLURM_PROCID"])
def test_processes_other_than_rank_zero_write_no_config_or_log_file(monkeypatch, variable):
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert other_rank_overrides([]) == []
    monkeypatch.setenv(variable, "0")
    assert other_rank_overrides([]) == []
    monkeypatch.setenv(variable, "1")
    assert other_rank_overrides([]) == ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
    assert other_rank_overrides(["hydra.output_subdir=null", "hydra/job_logging=none"]) == []
