"""The report's table: one row per run, the swept overrides as columns, then status and metrics."""

import csv
import math
import os
import re

from videomae.report.runs import Run

# Metric columns, in this order, when at least one run has them; probe/* and other numbers follow.
METRICS = [
    ("steps", "steps"),
    ("final_loss", "final loss"),
    ("best_loss", "best loss"),
    ("val/top1", "val top-1"),
    ("best_val/top1", "best val top-1"),
    ("val/top5", "val top-5"),
    ("test/top1", "test top-1"),
    ("test/top5", "test top-5"),
    ("test/mean_class", "test mean class"),
    ("clips_per_s", "clips/s"),
    ("epoch_time_s", "s/epoch"),  # scripts/probe.py: a probe's training epoch
    ("data_wait_fraction", "data wait"),
    ("mfu", "MFU"),
    ("wall_time_s", "wall time"),
    ("params", "params"),
]
PROBE_PREFIX = "probe/"


def swept_keys(runs: list[Run]) -> list[str]:
    """The override keys whose value is not the same in every run, in first-seen order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.overrides if k not in keys]
    return [k for k in keys if len({run.overrides.get(k) for run in runs}) > 1]


def _sort_key(value):
    """Numbers in numeric order, then text; missing values last."""
    if value is None:
        return (2, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, str(value))


def _natural(path: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def sort_runs(runs: list[Run], keys: list[str]) -> list[Run]:
    return sorted(runs, key=lambda r: ([_sort_key(r.overrides.get(k)) for k in keys], _natural(r.path)))


def run_label(run: Run, keys: list[str], root: str) -> str:
    """A legend entry: the run's swept values, or its directory when nothing was swept."""
    if keys:
        return ", ".join(f"{k}={run.overrides.get(k, '-')}" for k in keys)
    return os.path.relpath(run.path, root)


def metric_columns(runs: list[Run]) -> list[tuple[str, str]]:
    present = {
        k for run in runs for k, v in run.summary.items() if isinstance(v, int | float) and v is not None
    }
    columns = [(k, title) for k, title in METRICS if k in present]
    probes = sorted(k for k in present if k.startswith(PROBE_PREFIX))
    return columns + [(k, k) for k in probes]


def table(runs: list[Run], root: str) -> tuple[list[str], list[list]]:
    """(header, rows) with raw values: run, swept keys, kind, status, metrics, error."""
    keys = swept_keys(runs)
    columns = metric_columns(runs)
    header = ["run", *keys, "kind", "status", *(title for _, title in columns), "error"]
    rows = []
    for run in sort_runs(runs, keys):
        rows.append([
            os.path.relpath(run.path, root),
            *(run.overrides.get(k) for k in keys),
            run.kind,
            run.status,
            *(run.summary.get(k) for k, _ in columns),
            run.summary.get("error", ""),
        ])  # fmt: skip
    return header, rows


def fmt(value, title: str = "") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if title == "wall time":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}:{seconds:02d}"
    if title == "params":
        return f"{int(value):,}"
    if isinstance(value, int):
        return str(value)
    if "loss" in title:
        return f"{value:.4f}"
    if title in ("data wait", "MFU"):
        return f"{value:.1%}"
    return f"{value:.2f}"


def markdown(header: list[str], rows: list[list]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(fmt(v, t)) for v, t in zip(row, header, strict=True)) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: str, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
