"""The picture of the domain-shift comparison (videomae.experiments.domain_shift)."""

import os
import statistics

COLORS = {"direct": "#999999", "continued": "#1f77b4", "target_only": "#2ca02c", "scratch": "#d62728"}


def plot_domain(runs: list[dict], probes: dict[str, list[dict]], path: str) -> str:
    """Three panels: each arm's test top-1 (bar: mean over seeds, error bar: one standard
    deviation, dots: the seeds); the online probe on the target during the continued and the
    target-only pre-training (epoch 0: the source checkpoint, or the random initialisation); the
    first seed's validation top-1 while fine-tuning (where early stopping ended each arm)."""
    import matplotlib  # only the picture needs it

    matplotlib.use("Agg")  # before pyplot: files only, no display
    import matplotlib.pyplot as plt

    arms = list(COLORS)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    ax = axes[0]
    values = {arm: [r["arms"][arm]["top1"] for r in runs] for arm in arms}
    sds = [statistics.stdev(values[a]) if len(values[a]) > 1 else 0.0 for a in arms]
    ax.bar(arms, [statistics.mean(values[a]) for a in arms], yerr=sds, capsize=4, color=list(COLORS.values()))
    for i, arm in enumerate(arms):
        ax.scatter([i] * len(values[arm]), values[arm], color="black", s=12, zorder=3)
    ax.set(title=f"target test top-1 (%), seeds {[r['seed'] for r in runs]}")
    ax = axes[1]
    for arm, history in probes.items():
        for key, style in (("knn_top1", "-"), ("linear_top1", "--")):
            points = [(p["epoch"], p[key]) for p in history if p.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), style, marker="o", ms=3, color=COLORS[arm],
                        label=f"{arm} {key.split('_')[0]}")  # fmt: skip
    ax.set(
        title="online probe on the target (frozen)",
        xlabel="target pre-training epoch",
        ylabel="val top-1 (%)",
    )
    if probes:
        ax.legend(fontsize=8)
    ax = axes[2]
    for arm in arms:
        curve = runs[0]["arms"][arm].get("val_curve") or []
        if curve:
            ax.plot(*zip(*curve, strict=True), marker="o", ms=3, color=COLORS[arm], label=arm)
    ax.set(title=f"fine-tuning (seed {runs[0]['seed']})", xlabel="epoch", ylabel="val top-1 (%)")
    ax.legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
