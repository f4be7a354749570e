"""Collate run directories into one table and a few plots (`scripts/report.py DIR...`).

A run is a directory with a `summary.json` (written by every pre-training, fine-tuning and
evaluation run) or, for a run that never got that far, a Hydra `.hydra/` directory. The table has
one row per run: the overrides that differ between the runs (the swept keys) as columns, then the
status and the metrics. Failed, stopped and still-running runs are rows like the others.
"""

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field

from omegaconf import OmegaConf

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
    ("wall_time_s", "wall time"),
    ("params", "params"),
]
PROBE_PREFIX = "probe/"
FILENAME = "summary.json"  # videomae.training.summary writes it (not imported: no Lightning needed here)
SKIP_DIRS = {".submitit", ".hydra", "checkpoints", "pictures", "wandb", "__pycache__"}


@dataclass
class Run:
    path: str
    summary: dict = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    status: str = "unknown"
    kind: str = ""

    @property
    def metrics_csv(self) -> str:
        return os.path.join(self.path, "metrics.csv")


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`key=value` strings (as Hydra records them) -> {key: value}; `+key` and `~key` as `key`."""
    out = {}
    for item in overrides or []:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def find_runs(paths: list[str]) -> list[Run]:
    """Every run under `paths` (run directories, sweep directories, or folders of either)."""
    runs, seen = [], set()
    for top in paths:
        if not os.path.isdir(top):
            raise FileNotFoundError(f"{top} is not a directory")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            is_run = FILENAME in filenames or os.path.isdir(os.path.join(dirpath, ".hydra"))
            real = os.path.realpath(dirpath)
            if is_run and real not in seen:
                seen.add(real)
                runs.append(load_run(dirpath))
    return fold_tests_into_runs(runs)


def fold_tests_into_runs(runs: list[Run]) -> list[Run]:
    """A fine-tuning run's own test (`RUN/eval/summary.json`, from test=true or a later
    scripts/evaluate.py) adds its test/* metrics to that run's row instead of a row of its own."""
    by_path = {os.path.realpath(run.path): run for run in runs}
    kept = []
    for run in runs:
        parent = by_path.get(os.path.realpath(os.path.dirname(run.path)))
        folded = (
            run.kind == "evaluate"
            and os.path.basename(run.path) == "eval"
            and parent is not None
            and parent.kind == "finetune"
        )
        if not folded:
            kept.append(run)
            continue
        for key, value in run.summary.items():
            if key.startswith("test/") and parent.summary.get(key) is None:
                parent.summary[key] = value
    return kept


def load_run(path: str) -> Run:
    run = Run(path=path)
    summary_path = os.path.join(path, FILENAME)
    if os.path.isfile(summary_path):
        try:
            with open(summary_path, encoding="utf-8") as f:
                run.summary = json.load(f)
            run.status = str(run.summary.get("status", "unknown"))
        except (OSError, ValueError) as err:
            run.status = "unreadable"
            run.summary = {"error": f"{FILENAME}: {err}"}
    else:
        run.status = "no summary"  # started before summaries existed, or died before writing one
    run.kind = str(run.summary.get("kind", ""))
    overrides = run.summary.get("overrides")
    if overrides is None:
        hydra_overrides = os.path.join(path, ".hydra", "overrides.yaml")
        if os.path.isfile(hydra_overrides):
            overrides = list(OmegaConf.load(hydra_overrides) or [])
    run.overrides = parse_overrides(overrides or [])
    run.overrides.update(pretraining_overrides(run.summary.get("pretrained")))
    return run


def pretraining_overrides(pretrained) -> dict[str, str]:
    """A fine-tuning run's link to its pre-training: that run's overrides as `pretrain:KEY`
    columns, so fine-tuned accuracy lines up with, say, the pre-training's mask ratio."""
    if not pretrained or not isinstance(pretrained, str):
        return {}
    path = os.path.abspath(os.path.expanduser(pretrained))
    if not os.path.isdir(path):  # RUN/checkpoints/last.ckpt -> RUN
        path = os.path.dirname(path)
        if os.path.basename(path) == "checkpoints":
            path = os.path.dirname(path)
    summary_path = os.path.join(path, FILENAME)
    try:
        with open(summary_path, encoding="utf-8") as f:
            linked = json.load(f)
    except (OSError, ValueError):
        return {}
    if linked.get("kind") != "pretrain":
        return {}
    return {f"pretrain:{k}": v for k, v in parse_overrides(linked.get("overrides") or []).items()}


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


def read_curves(path: str) -> dict[str, tuple[list[float], list[float]]]:
    """{metric: (steps, values)} from a Lightning CSVLogger metrics.csv (empty cells skipped)."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    if not os.path.isfile(path):
        return curves
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                step = row.get("step")
                if not step:
                    continue
                for key, value in row.items():
                    if key in ("step", "epoch") or not value:
                        continue
                    try:
                        number = float(value)
                    except ValueError:
                        continue
                    xs, ys = curves.setdefault(key, ([], []))
                    xs.append(float(step))
                    ys.append(number)
    except (OSError, csv.Error):
        return {}
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = swept_keys(runs)
    panels: dict[tuple[str, str], list[tuple[Run, list[float], list[float]]]] = {}
    for run in sort_runs(runs, keys):
        for metric, (xs, ys) in read_curves(run.metrics_csv).items():
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


def report(paths: list[str], out_dir: str | None = None) -> dict:
    """Find the runs, write report.md, report.csv, loss.png (and probe.png when a run logged probe
    metrics) to `out_dir` (default: the first path); returns what was written and the table."""
    runs = find_runs(paths)
    out_dir = out_dir or paths[0]
    os.makedirs(out_dir, exist_ok=True)
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
    return {"runs": len(runs), "header": header, "rows": rows, "text": text, "written": written}
