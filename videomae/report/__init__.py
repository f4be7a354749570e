"""Collate run directories into one table and a few plots (`scripts/report.py DIR...`).

A run is a directory with a `summary.json` (written by every pre-training, fine-tuning and
evaluation run) or, for a run that never got that far, a Hydra `.hydra/` directory. The table has
one row per run: the overrides that differ between the runs (the swept keys) as columns, then the
status and the metrics. Failed, stopped and still-running runs are rows like the others.
"""

import os
import tempfile

from videomae.report.plots import plot_curves, read_curves, smooth
from videomae.report.runs import FILENAME, Run, find_runs, load_run, parse_overrides
from videomae.report.table import METRICS, PROBE_PREFIX, markdown, swept_keys, table, write_csv

__all__ = [
    "FILENAME",
    "METRICS",
    "PROBE_PREFIX",
    "Run",
    "find_runs",
    "load_run",
    "markdown",
    "out_dir_problem",
    "parse_overrides",
    "plot_curves",
    "read_curves",
    "report",
    "smooth",
    "swept_keys",
    "table",
    "write_csv",
]


def out_dir_problem(out_dir: str) -> str | None:
    """Why the report cannot be written to `out_dir` (created if missing), or None: tried with a
    real file, so that a read-only file system or permissions show up before any work is done."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        return f"{out_dir} is a file, not a directory"
    try:
        os.makedirs(out_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".report-check-"):
            pass
    except OSError as err:
        return f"cannot write to {out_dir} ({err.strerror or err})"
    return None


def report(paths: list[str], out_dir: str | None = None) -> dict:
    """Find the runs, write report.md, report.csv, loss.png (and probe.png when a run logged probe
    metrics) to `out_dir` (default: the first path); returns what was written, the table, and
    `warnings`: one line per run file that could not be used (that run's row says what it can)."""
    out_dir = out_dir or paths[0]
    problem = out_dir_problem(out_dir)
    if problem:
        raise ValueError(problem)
    runs = find_runs(paths)
    root = os.path.commonpath([os.path.abspath(p) for p in paths]) if paths else "."
    for run in runs:
        run.path = os.path.abspath(run.path)
    header, rows = table(runs, root)
    text = markdown(header, rows)
    written = {"markdown": os.path.join(out_dir, "report.md"), "csv": os.path.join(out_dir, "report.csv")}
    with open(written["markdown"], "w", encoding="utf-8") as f:
        f.write(text)
    write_csv(written["csv"], header, rows)
    loss = plot_curves(
        runs, root, lambda m: m == "train/loss", os.path.join(out_dir, "loss.png"), "training loss", "loss"
    )
    probe = plot_curves(
        runs, root, lambda m: m.startswith(PROBE_PREFIX), os.path.join(out_dir, "probe.png"),
        "online probe", "accuracy",
    )  # fmt: skip
    written.update({k: v for k, v in (("loss_plot", loss), ("probe_plot", probe)) if v})
    warnings = [
        f"{os.path.relpath(run.path, root)}: {problem}"
        for run in runs
        for problem in dict.fromkeys(run.problems)
    ]
    return {
        "runs": len(runs),
        "header": header,
        "rows": rows,
        "text": text,
        "written": written,
        "warnings": warnings,
    }
