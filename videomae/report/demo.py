"""The demo's curves, read back from its run directories, and the picture that shows them.

A demo directory holds `pretrain/` (CSV metrics with `train/loss`, and `probe.json`) and
`finetune-<arm>/` for each arm (CSV metrics with `val/top1` once per validated epoch).
"""

import csv
import json
import os

ARMS = ("pre-trained", "scratch")
# Both arms again with 10x the fine-tuning epochs: a gain that is only a short schedule's vanishes there.
LONG_ARMS = ("pre-trained-10x", "scratch-10x")


def _csv_rows(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def per_epoch(path: str, key: str) -> list[tuple[int, float]]:
    """[(epoch, mean of `key` over that epoch's logged rows)] from a CSV logger's metrics.csv;
    epochs count from 1 (the value after that many epochs)."""
    sums: dict[int, list[float]] = {}
    for row in _csv_rows(path):
        if row.get(key) not in (None, "") and row.get("epoch") not in (None, ""):
            sums.setdefault(int(float(row["epoch"])), []).append(float(row[key]))
    return [(epoch + 1, sum(v) / len(v)) for epoch, v in sorted(sums.items())]


def read_curves(demo_dir: str) -> dict:
    """{"loss": [(epoch, loss)], "probe": [probe.json entries], "val": {arm: [(epoch, top1)]}}."""
    pre = os.path.join(demo_dir, "pretrain")
    probe_path = os.path.join(pre, "probe.json")
    probe = []
    if os.path.isfile(probe_path):
        with open(probe_path) as f:
            probe = json.load(f)
    return {
        "loss": per_epoch(os.path.join(pre, "metrics.csv"), "train/loss"),
        "probe": probe,
        "val": {
            arm: per_epoch(os.path.join(demo_dir, f"finetune-{arm}", "metrics.csv"), "val/top1")
            for arm in (*ARMS, *LONG_ARMS)
            if arm in ARMS or os.path.isdir(os.path.join(demo_dir, f"finetune-{arm}"))
        },
    }


def plot_demo(curves: dict, path: str, title: str = "") -> str:
    """Three panels: pre-training loss, probe accuracy (epoch 0 = random initialisation) and
    both arms' validation top-1 during fine-tuning."""
    import matplotlib  # only the picture needs it: reading the curves does not

    matplotlib.use("Agg")  # before pyplot: files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    if curves["loss"]:
        ax.plot(*zip(*curves["loss"], strict=True), marker="o", ms=3)
    ax.set(title="pre-training loss", xlabel="epoch", ylabel="loss on masked patches")
    ax = axes[1]
    probe = curves["probe"]
    for key, label in (("knn_top1", "kNN (k=20)"), ("linear_top1", "linear")):
        points = [(p["epoch"], p[key]) for p in probe if p.get(key) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", ms=3, label=label)
    ax.set(title="online probe of the frozen encoder", xlabel="pre-training epoch", ylabel="val top-1 (%)")
    if probe:
        ax.legend()
    ax = axes[2]
    for arm, points in curves["val"].items():
        if points:
            style = "--" if arm in LONG_ARMS else "-"
            ax.plot(*zip(*points, strict=True), style, marker="o", ms=3, label=arm)
    ax.set(title="fine-tuning", xlabel="epoch", ylabel="val top-1 (%)")
    if any(curves["val"].get(arm) for arm in LONG_ARMS):
        ax.set_xscale("log")  # 30 and 300 epochs on one axis
    ax.legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
