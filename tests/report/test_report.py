"""scripts/report.py on run directories whose files are damaged: one bad run never kills the report."""

import json
import os
import runpy

import pytest
from helpers import REPO

REPORT = runpy.run_path(os.path.join(REPO, "scripts", "report.py"))["main"]
GOOD_CSV = "epoch,step,train/loss\n0,0,1.0\n0,1,0.9\n"


def make_run(root, name, summary=None, csv=None, overrides_yaml=None, raw_summary=None):
    run = root / name
    run.mkdir(parents=True)
    if raw_summary is not None:
        (run / "summary.json").write_bytes(raw_summary)
    else:
        summary = {
            "status": "completed",
            "kind": "pretrain",
            "steps": 2,
            "final_loss": 0.9,
            **(summary or {}),
        }
        (run / "summary.json").write_text(json.dumps(summary))
    (run / "metrics.csv").write_bytes(csv if csv is not None else GOOD_CSV.encode())
    if overrides_yaml is not None:
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_bytes(overrides_yaml)
    return run


@pytest.mark.parametrize(
    "bad, why",
    [
        (dict(raw_summary=b"[]"), "summary.json: holds a JSON list, not an object"),
        (dict(raw_summary=b"null"), "summary.json: holds a JSON null, not an object"),
        (dict(raw_summary=b"\xff\xfe{}"), "summary.json: 'utf-8' codec can't decode"),
        (dict(raw_summary=b"[" * 100_000 + b"]" * 100_000), "summary.json: JSON nested too deeply"),
        (dict(summary={"overrides": 5}), "summary.json: overrides=5: not a list of KEY=VALUE: ignored"),
        (dict(csv=b"epoch,step,train/loss\n0,0,\xff\xfe1.0\n"), "metrics.csv: not readable as UTF-8 CSV"),
        (
            dict(csv=b"epoch,step,train/loss\n0,abc,1.0\n0,1,0.5\n"),
            "metrics.csv: 1 rows whose step is not a number",
        ),
        (
            dict(raw_summary=b'{"status": "running", "kind": "pretrain"}', overrides_yaml=b"- a=1\n- [b\n"),
            ".hydra/overrides.yaml: not readable",
        ),
        (
            dict(raw_summary=b'{"status": "running", "kind": "pretrain"}', overrides_yaml=b"key: 5\n"),
            ".hydra/overrides.yaml: not a list of KEY=VALUE",
        ),
    ],
)
def test_one_bad_run_is_named_and_the_others_are_reported(tmp_path, capsys, bad, why):
    make_run(tmp_path / "runs", "good", summary={"overrides": ["mask.ratio=0.9"]})
    make_run(tmp_path / "runs", "bad", **bad)
    assert REPORT([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: bad: ") and why in warnings[0], err
    assert "2 runs; wrote" in out and "| good |" in out
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "loss.png").is_file()


def test_bad_out_is_one_line(tmp_path, capsys):
    make_run(tmp_path / "runs", "good")
    (tmp_path / "file").write_text("x")
    assert REPORT([str(tmp_path / "runs"), "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err == f"error: --out: {tmp_path / 'file'} is a file, not a directory\n"
    assert REPORT([str(tmp_path / "runs"), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out: cannot write to {tmp_path / 'file' / 'sub'} (")
    if os.geteuid() == 0:
        # root writes through permissions; a read-only file system is what stops it
        assert REPORT([str(tmp_path / "runs"), "--out", "/proc/report"]) == 2
        assert capsys.readouterr().err.startswith("error: --out: cannot write to /proc/report (")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        assert REPORT([str(tmp_path / "runs"), "--out", str(tmp_path / "ro")]) == 2
        assert "Permission denied" in capsys.readouterr().err


def test_a_probe_run_is_a_line_with_its_accuracy_and_epoch_time(tmp_path, capsys):
    make_run(tmp_path / "runs", "probe", summary={"kind": "probe", "probe/top1": 87.5, "epoch_time_s": 3.25,
                                                  "overrides": ["probe=vjepa2"]})  # fmt: skip
    make_run(tmp_path / "runs", "pre", summary={"overrides": ["probe=attentive"]})
    assert REPORT([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    out, _ = capsys.readouterr()
    header = next(line for line in out.splitlines() if line.startswith("| run"))
    row = next(line for line in out.splitlines() if line.startswith("| probe "))
    assert "probe/top1" in header and "s/epoch" in header
    assert "probe" in row and "87.5" in row and "3.25" in row
