"""A submitit sweep's outcome: each job's final state, after any requeues, in one line per job.

The submitit plugin returns what the first attempt of each job left (its result file): a job
that SLURM pre-empted and requeued reads as failed although its last attempt completed, and a job
that failed prints submitit's 40-line traceback naming "task: 0" and submitit's job id. Hydra
accepts launchers only from its `hydra_plugins` package, so `use_final_states()` replaces the
plugin's `launch` (the rest of the plugin is unchanged): it submits the same array job, waits
until SLURM says each job is done for good (not pending, running or requeued), then reads each
job's run directory (summary.json). It prints one line per job and, when a job finally failed,
ends the program with status 1 naming the failed jobs.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf, open_dict

# SLURM job states that are not final: the job may still run (again).
NOT_DONE = {
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "COMPLETING", "CONFIGURING",
    "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED", "RESV_DEL_HOLD",
}  # fmt: skip
POLL_S = 5.0


def use_final_states() -> None:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

    BaseSubmititLauncher.launch = launch


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def slurm_state(job_id: str) -> tuple[str | None, int]:
    """(state, restarts) from `scontrol show job` (jobs the controller still holds), else sacct."""
    try:
        out = _run("scontrol", "show", "job", "-o", job_id)
        if out.returncode == 0:
            fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
            return fields.get("JobState"), int(fields.get("Restarts", 0) or 0)
        out = _run("sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State")
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0], 0
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return None, 0


def wait_final(jobs, slurm: bool) -> dict[str, tuple[str | None, int]]:
    """Each job's final (state, restarts). Local jobs: their process has ended."""
    if not slurm:
        for job in jobs:
            job.wait()
        return {job.job_id: (None, 0) for job in jobs}
    final: dict[str, tuple[str | None, int]] = {}
    unknown: dict[str, int] = {}
    while len(final) < len(jobs):
        for job in jobs:
            if job.job_id in final:
                continue
            state, restarts = slurm_state(job.job_id)
            if state is None:  # neither scontrol nor sacct knows it: fall back on submitit's view
                unknown[job.job_id] = unknown.get(job.job_id, 0) + 1
                if unknown[job.job_id] >= 3 and job.done():
                    final[job.job_id] = (None, 0)
            elif state.split()[0].upper() not in NOT_DONE:
                final[job.job_id] = (state.split()[0].upper(), restarts)
        if len(final) < len(jobs):
            time.sleep(POLL_S)
    return final


def read_summary(run_dir: str) -> dict:
    try:
        with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def last_error_line(job) -> str | None:
    """The job log's `error: ...` line (videomae.config.cli.reported_errors), else its last line."""
    try:
        text = Path(job.paths.stderr).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    found = errors or lines
    return found[-1] if found else None


def job_run_dir(launcher, overrides: list[str], num: int) -> str:
    """The run directory Hydra gives job `num` (hydra.sweep.dir/hydra.sweep.subdir)."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(cfg.hydra.job):
        cfg.hydra.job.num = num
    return os.path.join(str(cfg.hydra.sweep.dir), str(OmegaConf.select(cfg, "hydra.sweep.subdir")))


def varying(job_overrides) -> list[set[str]]:
    """Per job, the overrides that differ between jobs (all of them for a single job)."""
    sets = [set(filter_overrides(o)) for o in job_overrides]
    common = set.intersection(*sets) if len(sets) > 1 else set()
    return [s - common for s in sets]


def outcome(run_dir: str, state: str | None, restarts: int, job) -> tuple[bool, str]:
    """(finally completed?, what to say) for one job."""
    summary = read_summary(run_dir)
    status = summary.get("status")
    again = f", requeued {restarts} time{'s' * (restarts != 1)}" if restarts else ""
    if status == "completed" and state in (None, "COMPLETED"):
        return True, f"completed at step {summary.get('steps')}{again}"
    if status == "completed":
        return False, f"SLURM state {state} after the run completed{again}"
    reason = summary.get("error") if status in ("failed", "stopped") else None
    reason = reason or last_error_line(job) or f"no summary.json in {run_dir}"
    where = f"SLURM state {state}{again}; " if state else ""
    # "running" (or no summary): the process died without a word, e.g. killed by a signal
    said = status if status in ("failed", "stopped", "requeued") else "died"
    return False, f"{said}: {reason} ({where}log: {job.paths.stderr})"


def launch(self, job_overrides, initial_job_idx):
    """BaseSubmititLauncher.launch, returning each job's final state (see the module's doc)."""
    import submitit
    from hydra.core.singleton import Singleton
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = dict(self.params)
    init = {"folder": params.pop("submitit_folder")}
    if "max_num_timeout" in params:
        init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
    executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
    sweep_dir = Path(str(self.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if "mode" in self.config.hydra.sweep:
        os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
    nums = [initial_job_idx + i for i in range(len(job_overrides))]
    state = Singleton.get_state()
    params_of = [
        (list(o), "hydra.sweep.dir", n, f"job_id_for_{n}", state)
        for o, n in zip(job_overrides, nums, strict=True)
    ]
    jobs = executor.map_array(self, *zip(*params_of, strict=True))
    print(f"sweep: {len(jobs)} jobs submitted ({self._EXECUTOR}: {', '.join(j.job_id for j in jobs)}); "
          f"waiting for their final states", flush=True)  # fmt: skip
    finals = wait_final(jobs, slurm=self._EXECUTOR == "slurm")
    returns, failed = [], []
    for num, overrides, shown, job in zip(nums, job_overrides, varying(job_overrides), jobs, strict=True):
        run_dir = job_run_dir(self, overrides, num)
        ok, text = outcome(run_dir, *finals[job.job_id], job)
        values = " ".join(o for o in filter_overrides(overrides) if o in shown)
        label = f"sweep job {num}" + (f" ({values})" if values else "")
        print(f"{label}: {text}; run dir {run_dir}", flush=True)
        if not ok:
            failed.append(str(num))
        ret = JobReturn(overrides=list(overrides), working_dir=run_dir, task_name=str(num))
        ret.status = JobStatus.COMPLETED if ok else JobStatus.FAILED
        returns.append(ret)
    if failed:
        names = ", ".join(failed)
        print(f"error: {len(failed)} of {len(jobs)} sweep jobs failed (job {names})", file=sys.stderr)
        sys.exit(1)
    return returns
