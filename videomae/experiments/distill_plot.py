"""The picture of the distillation comparison (videomae.experiments.distill_compare)."""

import os

COLUMNS = (("test_top1", "fine-tuned, test top-1 (%)"), ("knn_top1", "probe kNN, val top-1 (%)"),
           ("linear_top1", "probe linear, val top-1 (%)"))  # fmt: skip


def plot_compare(summary: dict, path: str) -> str:
    """One panel per measure: each arm's mean (bar), its spread (error bar: one standard
    deviation over seeds) and every seed's value (dots)."""
    import matplotlib  # only the picture needs it

    matplotlib.use("Agg")  # before pyplot: files only, no display
    import matplotlib.pyplot as plt

    arms = list(summary["table"])
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, COLUMNS, strict=True):
        means = [summary["table"][arm][key]["mean"] for arm in arms]
        sds = [summary["table"][arm][key]["sd"] for arm in arms]
        ax.bar(
            arms, means, yerr=sds, capsize=4, color=["#999999", "#1f77b4", "#2ca02c", "#d62728"][: len(arms)]
        )
        for i, arm in enumerate(arms):
            values = summary["table"][arm][key]["values"]
            ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
        ax.set(title=title)
        ax.grid(alpha=0.3, axis="y")
    steps = ", ".join(f"{arm} {summary['steps'][arm]}" for arm in arms)
    fig.suptitle(f"equal wall-clock ({summary['budget_s']:.0f} s); steps: {steps}; seeds {summary['seeds']}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
