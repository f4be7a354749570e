"""A real single-node SLURM cluster for the tests: this host as controller and compute node.

From Debian's packages (`apt-get install slurm-wlm munge`, 22.05 tested): a munge daemon with its
own key and socket, slurmctld and slurmd, all state, logs and sockets in one directory, on free
ports; so it runs beside anything else on the machine. Needs root (slurmd runs jobs as their
user). `ProctrackType=proctrack/linuxproc` and no cgroups: it runs in containers; a job's
processes are its step's process tree, which is how SLURM signals them (`--signal`, `scancel
--signal`). `cred_expire=10`: a requeued job may start again ~11 s later (the default is 120 s).
docs/ablations.md gives the same configuration for a laptop.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time

TOOLS = ("sbatch", "scontrol", "scancel", "sinfo", "slurmctld", "slurmd", "munged")

SLURM_CONF = """\
ClusterName=videomae-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge.socket,cred_expire=10
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
KillWait=10
MessageTimeout=20
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class ClusterError(RuntimeError):
    """The daemons did not start (the reason, and where their logs are)."""


def skip_reason() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"no {', '.join(missing)} (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "a test SLURM cluster needs root (slurmd starts jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """`with SlurmCluster(directory, cpus) as env:` env: os.environ with SLURM_CONF set."""

    def __init__(self, directory: str, cpus: int = 8):
        self.dir = str(directory)
        self.cpus = cpus
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60, check=check)

    def start(self) -> dict:
        for sub in ("state", "spool"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(self.dir, 0o755)
        key = os.path.join(self.dir, "munge.key")
        with open(key, "wb") as f:
            f.write(secrets.token_bytes(1024))
        os.chmod(key, 0o600)
        d = self.dir
        self._run("munged", "--force", f"--key-file={key}", f"--socket={d}/munge.socket",
                  f"--pid-file={d}/munged.pid", f"--seed-file={d}/munged.seed",
                  f"--log-file={d}/munged.log")  # fmt: skip
        host = socket.gethostname().split(".")[0]
        with open(self.conf, "w") as f:
            f.write(
                SLURM_CONF.format(
                    host=host, dir=d, cpus=self.cpus, ctld_port=_free_port(), d_port=_free_port()
                )
            )
        self._run("slurmctld", "-f", self.conf)
        self._run("slurmd", "-f", self.conf)
        deadline, state = time.time() + 60, ""
        while time.time() < deadline:
            state = self._run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if state == "idle":
                return self.env
            time.sleep(0.5)
        self.stop()
        raise ClusterError(f"the test SLURM node did not become idle (state {state!r}); logs in {d}")

    def stop(self) -> None:
        self._run("scancel", "--full", "--user=root", check=False)
        self._run("scontrol", "shutdown", check=False)  # slurmctld and slurmd
        for name, grace in (("slurmd", 5), ("slurmctld", 5), ("munged", 0)):
            self._stop_pid(os.path.join(self.dir, f"{name}.pid"), grace)

    @staticmethod
    def _stop_pid(pid_file: str, grace: float) -> None:
        """The daemon of `pid_file` (started here): `grace` seconds to exit, then SIGTERM."""
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        start = time.time()
        while time.time() < start + grace + 10:
            try:
                os.kill(pid, 0 if time.time() < start + grace else signal.SIGTERM)
            except ProcessLookupError:
                return
            time.sleep(0.2)

    def __enter__(self) -> dict:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def job(self, job_id: str) -> dict:
        """`scontrol show job` as a dict (JobState, Restarts, ExitCode, ...)."""
        out = self._run("scontrol", "show", "job", "-o", job_id).stdout
        return dict(field.split("=", 1) for field in out.split() if "=" in field)

    def signal(self, job_id: str, name: str) -> None:
        """Signal every process of the job's steps, as `--signal=NAME@N` does before a time limit."""
        self._run("scancel", f"--signal={name}", job_id)
