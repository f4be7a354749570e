"""The report's plots: training curves from each run's CSV metrics, one line per run."""

import csv
import os

from videomae.report.runs import Run
from videomae.report.table import run_label, sort_runs, swept_keys


def read_curves(path: str, problems: list[str] | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """{metric: (steps, values)} from a Lightning CSVLogger metrics.csv (empty cells skipped).

    A file that cannot be read gives no curves, rows whose step is not a number are left out;
    either is said in `problems`, so that one bad file costs one run its curves, not the report."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    problems = [] if problems is None else problems
    if not os.path.isfile(path):
        return curves
    name, bad_steps = os.path.basename(path), 0
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    step = float(row.get("step") or "")
                except (TypeError, ValueError):
                    bad_steps += bool(row.get("step"))
                    continue
                for key, value in row.items():
                    if key in (None, "step", "epoch") or not isinstance(value, str) or not value:
                        continue  # None: cells beyond the header
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    xs, ys = curves.setdefault(key, ([], []))
                    xs.append(step)
                    ys.append(number)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        problems.append(f"{name}: not readable as UTF-8 CSV ({err}): no curves plotted")
        return {}
    if bad_steps:
        problems.append(f"{name}: {bad_steps} rows whose step is not a number left out of the plots")
    return curves


def smooth(values: list[float], window: int) -> list[float]:
    """A trailing moving average (the first points average what there is so far)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_curves(runs: list[Run], root: str, metric_filter, path: str, title: str, ylabel: str) -> str | None:
    """One panel per metric (and run kind), one line per run, legend of the swept values."""
    import matplotlib  # only the plots need it: the table is written without

    matplotlib.use("Agg")  # before pyplot: files only, no display
    import matplotlib.pyplot as plt

    keys = swept_keys(runs)
    panels: dict[tuple[str, str], list[tuple[Run, list[float], list[float]]]] = {}
    for run in sort_runs(runs, keys):
        for metric, (xs, ys) in read_curves(run.metrics_csv, run.problems).items():
            if metric_filter(metric) and xs:
                panels.setdefault((run.kind or "run", metric), []).append((run, xs, ys))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ((kind, metric), lines) in zip(axes[0], sorted(panels.items()), strict=True):
        for i, (run, xs, ys) in enumerate(lines):
            color = colors[i % len(colors)]
            label = run_label(run, keys, root) + ("" if run.status == "completed" else f" ({run.status})")
            window = max(1, len(ys) // 25)
            if window > 1:  # noisy per-step values: faint raw line, bold moving average
                ax.plot(xs, ys, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(xs, smooth(ys, window), color=color, linewidth=1.8, label=label)
            else:
                ax.plot(xs, ys, color=color, linewidth=1.8, marker="o" if len(ys) < 30 else None,
                        markersize=3, label=label)  # fmt: skip
        ax.set_title(f"{kind}: {metric}" + (f" (moving average, {window} steps)" if window > 1 else ""))
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel if metric == "train/loss" else metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title=", ".join(keys) if keys else None, title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
