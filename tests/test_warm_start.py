"""The warm Python that runs the tests' scripts (tests/warm_start.py) behaves as `python script.py`."""

import json
import os
import signal
import subprocess
import textwrap

import pytest
import warm_start
from helpers import REPO, run_script

PROBE = textwrap.dedent("""
    import atexit, json, os, sys, tempfile
    atexit.register(lambda: print("atexit ran"))
    print(json.dumps({
        "name": __name__,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": os.environ.get("WARM_PROBE"),
        "path0": sys.path[0],
        "tests_importable": any(os.path.isfile(os.path.join(p, "warm_start.py")) for p in sys.path),
        "pid": os.getpid(),
        "media": __import__("wandb.sdk.data_types._private", fromlist=["MEDIA_TMP"]).MEDIA_TMP.name,
    }))
    print("to stderr", file=sys.stderr)
    if len(sys.argv) > 1 and sys.argv[1] == "sleep":
        import time
        time.sleep(60)
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
""")


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / "bin" / "probe.py"
    path.parent.mkdir()
    path.write_text(PROBE)
    return str(path)


def test_a_warm_child_is_python_running_the_script(tmp_path, probe):
    env = {**os.environ, "WARM_PROBE": "yes"}
    result = warm_start.run([probe, "3"], cwd=str(tmp_path), env=env, timeout=60)
    assert result.returncode == 3
    facts = json.loads(result.stdout.splitlines()[0])
    assert facts["name"] == "__main__" and facts["argv"] == [probe, "3"]
    assert facts["cwd"] == str(tmp_path) and facts["env"] == "yes"
    assert facts["path0"] == os.path.dirname(probe) and not facts["tests_importable"]
    assert facts["pid"] not in (os.getpid(), warm_start.Server._proc.pid)
    assert result.stdout.splitlines()[-1] == "atexit ran" and result.stderr == "to stderr\n"
    # wandb's media directory (made at import, removed at exit) is each child's own
    again = warm_start.run([probe], cwd=str(tmp_path), env=env, timeout=60)
    media = json.loads(again.stdout.splitlines()[0])["media"]
    assert again.returncode == 0 and media != facts["media"] and not os.path.exists(media)

    importable = {**env, "PYTHONPATH": os.path.join(REPO, "tests")}
    result = warm_start.run([probe], cwd=str(tmp_path), env=importable, timeout=60)
    assert json.loads(result.stdout.splitlines()[0])["tests_importable"]


def test_signals_timeouts_and_a_new_session(tmp_path, probe):
    with open(tmp_path / "out.txt", "w+") as out:
        env = dict(os.environ)
        proc = warm_start.start([probe, "sleep"], str(tmp_path), env, stdout=out, new_session=True)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        assert proc.poll() is None and os.getpgid(proc.pid) == proc.pid
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    with pytest.raises(subprocess.TimeoutExpired):
        warm_start.run([probe, "sleep"], cwd=str(tmp_path), env=dict(os.environ), timeout=1)


def test_a_script_says_the_same_warm_and_cold(tmp_path):
    args = ("pretrain.py", "mask.ratio=1.5", f"hydra.run.dir={tmp_path}")
    warm, cold = run_script(*args, timeout=120), run_script(*args, timeout=120, cold=True)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert warm.returncode == 2 and warm.stderr.startswith("error: mask.ratio=1.5")
