"""A warm Python for the tests' script runs: `python scripts/X.py ...` without paying the imports.

Every run of a repository script starts a new interpreter that spends about 10 s (on the CI's 2
cores) importing torch, torchvision (which pulls in torch._dynamo), timm, Lightning (which pulls in
torchmetrics and transformers) and Hydra, more than most of the tests' tiny runs take. This module
is a zygote: one server per test worker imports those modules once, runs nothing, and forks a
child for each script run. The child is a new process (its own pid, signals, exit status, stdin,
stdout and stderr, working directory and environment), sets `sys.argv` and `sys.path` as
`python script.py` would, and runs the script as `__main__`; it ends through the interpreter's
normal exit (threads joined, atexit handlers run, streams flushed). What it cannot give is a cold
import: a variable that torch or Lightning read while being imported is the server's. Tests that
are about imports or start-up run a real `python` (helpers.run_script(..., cold=True), `python -c`),
and VIDEOMAE_TESTS_COLD=1 runs every script cold.

Protocol, one connection per run: the client sends one JSON line (argv, cwd, env, new_session) with
its stdin, stdout and stderr as file descriptors (SCM_RIGHTS); the server answers `{"pid": N}`,
then `{"returncode": R}` once the child has exited (R as subprocess reports it: -N for signal N).
"""

import importlib
import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

# What the scripts import at the top, and what that pulls in: the slow part of their start-up.
PRELOAD = (
    "torch",
    "torchvision",
    "timm",
    "pytorch_lightning",
    "hydra",
    "omegaconf",
    "videomae.config.cli",
    "videomae.config.preflight",
    "videomae.training.run_dir_first",
    "videomae.training.pretrain",
    "videomae.training.finetune",
    "videomae.training.evaluate",
    "videomae.training.distill",
    "videomae.training.probe_run",
)
SCRIPT_ENV = "VIDEOMAE_TESTS_COLD"


# --- the server --------------------------------------------------------------------------------


def serve(path: str) -> dict | None:
    """Accept runs on the unix socket `path` until the client's process is gone. Returns the request
    in each forked child (which then runs it), None in the server once it is done."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection that wants its exit status
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while os.getppid() == parent:
        for _ in selector.select(timeout=0.05):
            conn, _ = listener.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
            while not message.endswith(b"\n"):
                message += conn.recv(1 << 16)
            request = json.loads(message)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                conn.close()
                for other in waiting.values():
                    other.close()
                request["fds"] = fds
                return request
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            waiting[pid] = conn
        for pid in list(waiting):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                conn = waiting.pop(pid)
                reply = {"returncode": os.waitstatus_to_exitcode(status)}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass  # the client gave up (timeout) and closed its end
                conn.close()
    listener.close()
    os.unlink(path)
    os.rmdir(os.path.dirname(path))
    return None


def run_child(request: dict) -> None:
    """In the forked child: become `python argv[0] argv[1:]` in `cwd` with `env`, and run it."""
    import gc
    import runpy

    # Temporary directories made while importing (wandb makes two, and removes them at exit) are
    # the server's: a child gets its own, as a new interpreter would, and removes only those.
    for obj in gc.get_objects():
        if isinstance(obj, tempfile.TemporaryDirectory):
            obj._finalizer.detach()
            obj.name = tempfile.mkdtemp(prefix=os.path.basename(obj.name) + "-")
            obj._finalizer = weakref.finalize(obj, shutil.rmtree, obj.name, ignore_errors=True)

    stdin, stdout, stderr = request["fds"]
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    for fd in set(request["fds"]):
        if fd > 2:
            os.close(fd)
    if request["new_session"]:
        os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = os.path.abspath(request["argv"][0])
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.path.dirname(script), *extra, *BASE_PATH]
    sys.argv[:] = [script, *request["argv"][1:]]
    runpy.run_path(script, run_name="__main__")


# The server's own sys.path without its first entry (this tests/ directory) and its PYTHONPATH:
# what every `python script.py` has after the script's directory and its own PYTHONPATH.
_OWN_PYTHONPATH = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
BASE_PATH = [p for p in sys.path[1:] if p not in _OWN_PYTHONPATH]


# --- the client --------------------------------------------------------------------------------


class WarmProcess:
    """A script run by the server, with the part of subprocess.Popen's interface the tests use."""

    def __init__(self, conn: socket.socket, argv: list[str]):
        self.args = argv
        self._conn = conn
        self._buffer = b""
        self.pid = self._message(None)["pid"]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._returncode(0)

    def wait(self, timeout: float | None = None) -> int:
        returncode = self._returncode(timeout)
        if returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return returncode

    def _returncode(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            message = self._message(timeout)
            if message is not None:
                self.returncode = message["returncode"]
                self._conn.close()
        return self.returncode

    def _message(self, timeout: float | None) -> dict | None:
        """The server's next line; None if it has not come within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._conn], [], [], left)[0]:
                return None
            chunk = self._conn.recv(4096)
            if not chunk:
                raise RuntimeError(f"the warm-start server died while running {self.args}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Server:
    """This test process's server, started on first use."""

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None
    _path = ""

    @classmethod
    def address(cls) -> str:
        with cls._lock:
            if cls._proc is None or cls._proc.poll() is not None:
                cls._path = os.path.join(tempfile.mkdtemp(prefix="warm-"), "socket")
                env = {**os.environ, "PYTHONUNBUFFERED": "1"}
                cls._proc = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), cls._path],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                ready = cls._proc.stdout.readline()
                if ready.strip() != b"ready":
                    raise RuntimeError(f"the warm-start server did not start (said {ready!r})")
            return cls._path


def warm_available() -> bool:
    return os.environ.get(SCRIPT_ENV, "") in ("", "0")


def start(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    stdin=None,
    stdout=None,
    stderr=None,
    new_session: bool = False,
) -> WarmProcess:
    """Run `python argv[0] argv[1:]` in a child of the server. stdin/stdout/stderr: None (this
    process's own), subprocess.DEVNULL, or an open file."""
    fds, opened = [], []
    for stream, default in ((stdin, 0), (stdout, 1), (stderr, 2)):
        if stream is None:
            fds.append(default)
        elif stream == subprocess.DEVNULL:
            f = open(os.devnull, "r+b")
            opened.append(f)
            fds.append(f.fileno())
        elif stream == subprocess.STDOUT:
            fds.append(fds[1])
        else:
            fds.append(stream.fileno())
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(Server.address())
    message = json.dumps({"argv": list(argv), "cwd": cwd, "env": env, "new_session": new_session})
    data = message.encode() + b"\n"
    sent = socket.send_fds(conn, [data], fds)
    conn.sendall(data[sent:])
    for f in opened:
        f.close()
    return WarmProcess(conn, list(argv))


def run(argv: list[str], cwd: str, env: dict[str, str], timeout: float | None) -> subprocess.CompletedProcess:
    """subprocess.run(..., capture_output=True, text=True, timeout=timeout), in a warm child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = start(argv, cwd, env, stdout=out, stderr=err)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read().decode())
    return subprocess.CompletedProcess(argv, proc.returncode, texts[0], texts[1])


if __name__ == "__main__":
    for name in PRELOAD:
        importlib.import_module(name)
    request = serve(sys.argv[1])
    if request is not None:
        run_child(request)
