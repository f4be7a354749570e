"""Which start for a new domain: fine-tune the released checkpoint, continue pre-training it on
the target's unlabeled videos, pre-train on the target alone, or no pre-training? In miniature on
CPU (`python scripts/demo.py --domain-shift`; docs/your_videos.md, section 4).

Source (the stand-in for a released checkpoint): the demo's pre-training (scripts/demo.py's stage
1, the same overrides): RGB dots drifting in 8 directions. Target: other videos of another kind,
decoded to one channel (`data.channels=gray`, `model.in_chans=1`): smaller dots that follow a
flow field (`data.synthetic.motions=flow`: 4 translations, 2 rotations, expansion, contraction)
and live a few frames each, so that the classes depend on the field's shape, which the source's
classes (one direction everywhere) never needed. Arms, each fine-tuned on the same few labeled
target videos with the same recipe and maximum budget:

- `direct`: from the source checkpoint (its RGB patch embedding summed to one channel);
- `continued`: the source checkpoint pre-trained further on the target's unlabeled videos
  (`init=`), `--target-epochs` epochs;
- `target_only`: pre-trained from scratch on the same target videos for the same number of steps
  as `continued`'s continued pre-training (the question is how to spend the target's compute);
- `scratch`: no pre-training.

Each fine-tuning validates every `--val-every` epochs and stops when validation top-1 has not
risen for `--patience` validations (at most `--finetune-epochs`); the test (multi-view, held-out
test split) is of the best-validation checkpoint. The online probe of the continued and of the
target-only pre-training gives the frozen features' kNN and linear top-1 on the target before
and after.
"""

import argparse
import json
import os
import statistics
import time

from videomae.experiments.distill_compare import common, fresh_run, read_json, stage
from videomae.experiments.domain_plot import plot_domain
from videomae.report.demo import per_epoch
from videomae.training import evaluate, finetune, pretrain

ARMS = ("direct", "continued", "target_only", "scratch")
# The target domain (overrides of every target stage), chosen on the validation split: see
# docs/your_videos.md, section 4, for what was tried.
TARGET = [
    "data.synthetic.motions=flow",
    "data.synthetic.dot_lifetime=16",
    "data.synthetic.roll=0.08",
    "data.synthetic.zoom=0.06",
    "data.channels=gray",
    "model.in_chans=1",
]
TARGET_SEED = 1000  # the target's videos: generated with seed + this, apart from the source's


def settings(demo_args: argparse.Namespace) -> argparse.Namespace:
    """The experiment's settings from scripts/demo.py's arguments (its data sizes and seed)."""
    return argparse.Namespace(
        out=demo_args.out,
        data_root=demo_args.data_root,
        seeds=demo_args.seeds or [demo_args.seed],
        unlabeled=demo_args.unlabeled,
        target_unlabeled=demo_args.target_unlabeled,
        test_per_class=demo_args.test_per_class,
        source_epochs=demo_args.pretrain_epochs,
        target_epochs=demo_args.target_epochs,
        per_class=demo_args.target_per_class,
        finetune_epochs=demo_args.max_finetune_epochs,
        val_every=demo_args.val_every,
        patience=demo_args.patience,
        set=demo_args.set,
        reuse=demo_args.reuse,
        target=TARGET,
    )


def seed_args(args, seed: int, target: bool) -> argparse.Namespace:
    """distill_compare.common's arguments for one domain: the source's videos are the demo's of
    this seed, the target's its own."""
    return argparse.Namespace(**{**vars(args), "data_seed": seed + (TARGET_SEED if target else 0)})


def domain(args, seed: int, target: bool) -> list[str]:
    if not target:
        return common(seed_args(args, seed, False), seed)
    per_class = f"data.synthetic.num_train_per_class={args.target_unlabeled}"
    # --set last again: a user's override wins over the target's settings too
    return [*common(seed_args(args, seed, True), seed), per_class, *args.target, *args.set]


def pretrain_overrides(epochs: int) -> list[str]:
    """scripts/demo.py's stage 1 settings: the probe four times over the run, on 80 + 80 videos."""
    return [
        f"trainer.max_epochs={epochs}",
        f"probe.every_n_epochs={max(epochs // 4, 1)}",
        "probe.train_videos=80",
        "probe.val_videos=80",
        f"checkpoint.every_n_epochs={epochs}",
        "viz.every_n_epochs=0",
    ]


def finetune_overrides(args, run_dir: str) -> list[str]:
    """The same for every arm: labels, recipe, maximum budget, early stopping on val/top1 and the
    best-validation checkpoint (best/best.ckpt)."""
    return [
        f"data.train_per_class={args.per_class}",
        f"trainer.max_epochs={args.finetune_epochs}",
        f"+trainer.check_val_every_n_epoch={args.val_every}",
        f"checkpoint.every_n_epochs={args.finetune_epochs}",
        "+callbacks.stop._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.stop.monitor=val/top1",
        "+callbacks.stop.mode=max",
        f"+callbacks.stop.patience={args.patience}",
        "+callbacks.best._target_=pytorch_lightning.callbacks.ModelCheckpoint",
        "+callbacks.best.monitor=val/top1",
        "+callbacks.best.mode=max",
        "+callbacks.best.save_top_k=1",
        f"+callbacks.best.dirpath={os.path.join(run_dir, 'best')}",
        "+callbacks.best.filename=best",
    ]


def pretraining_steps(args) -> dict[str, dict[str, int]]:
    """Pre-training steps of each arm, on the source and on the target (batches of 16 of the 8
    classes' unlabeled training videos)."""
    source = args.source_epochs * ((8 * args.unlabeled) // 16)
    target = args.target_epochs * ((8 * args.target_unlabeled) // 16)
    return {
        "direct": {"source": source, "target": 0},
        "continued": {"source": source, "target": target},
        "target_only": {"source": 0, "target": target},
        "scratch": {"source": 0, "target": 0},
    }


def pretrain_arms(args, seed: int, out: str) -> dict[str, str]:
    """The three pre-trainings: source, continued (init= source) and target-only. A finished
    source in `out` is kept (as scripts/demo.py --distill keeps its teacher), the others with
    --reuse."""
    source = os.path.join(out, "source")
    cfg = stage(f"source pre-training: the demo's (seed {seed})", "pretrain",
                [*domain(args, seed, False), *pretrain_overrides(args.source_epochs)])  # fmt: skip
    fresh_run(pretrain.run, cfg, source, reuse=True)
    runs = {"direct": source, "scratch": "null"}
    for arm, init in (("continued", source), ("target_only", None)):
        cfg = stage(f"{arm} pre-training on the target (seed {seed})", "pretrain",
                    [*domain(args, seed, True), *pretrain_overrides(args.target_epochs),
                     *([f"init={init}"] if init else [])])  # fmt: skip
        runs[arm] = os.path.join(out, arm)
        fresh_run(pretrain.run, cfg, runs[arm], reuse=args.reuse)
    return runs


def finetune_arm(args, seed: int, arm: str, pretrained: str, run_dir: str) -> dict:
    """Fine-tuning with early stopping, then the multi-view test of the best-validation checkpoint."""
    cfg = stage(f"fine-tuning {arm} on {args.per_class} labeled target videos per class (seed {seed})",
                "finetune", [*domain(args, seed, True), f"pretrained={pretrained}",
                             *finetune_overrides(args, run_dir)])  # fmt: skip
    fresh_run(finetune.run, cfg, run_dir)
    best = os.path.join(run_dir, "best", "best.ckpt")
    metrics = evaluate.evaluate(best)
    val = per_epoch(os.path.join(run_dir, "metrics.csv"), "val/top1")
    best_epoch, best_val = max(val, key=lambda p: (p[1], -p[0])) if val else (None, None)
    return {
        **{k: metrics[k] for k in ("top1", "top5", "mean_class", "videos")},
        "best_val_top1": best_val,
        "best_epoch": best_epoch,
        "epochs": val[-1][0] if val else 0,
        "val_curve": val,
    }


def probe_history(run_dir: str) -> list[dict]:
    history = read_json(os.path.join(run_dir, "probe.json"))
    return history if isinstance(history, list) else history.get("history", [])


def probe_summary(run_dir: str) -> dict:
    history = probe_history(run_dir)
    keep = ("epoch", "knn_top1", "linear_top1")
    return {"before": {k: history[0][k] for k in keep}, "after": {k: history[-1][k] for k in keep}}


def run_seed(args, seed: int, out: str) -> dict:
    started = time.perf_counter()
    starts = pretrain_arms(args, seed, out)
    pretrained_minutes = (time.perf_counter() - started) / 60
    arms = {
        arm: finetune_arm(args, seed, arm, starts[arm], os.path.join(out, f"finetune-{arm}")) for arm in ARMS
    }
    top1 = {arm: arms[arm]["top1"] for arm in ARMS}
    summary = {
        "seed": seed,
        "arms": arms,
        "continued_beats": {arm: top1["continued"] > top1[arm] for arm in ARMS if arm != "continued"},
        "probe": {arm: probe_summary(starts[arm]) for arm in ("continued", "target_only")},
        "pretraining_steps": pretraining_steps(args),
        "minutes": {"pretraining": pretrained_minutes, "total": (time.perf_counter() - started) / 60},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "seeds")},
    }
    write(summary, out)
    return summary


def spread(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}  # fmt: skip


def over_seeds(runs: list[dict]) -> dict:
    """Mean, standard deviation and per-seed values of each arm's test top-1."""
    return {
        "seeds": [r["seed"] for r in runs],
        "top1": {arm: spread([r["arms"][arm]["top1"] for r in runs]) for arm in ARMS},
        "continued_beats_on_every_seed": {
            arm: all(r["continued_beats"][arm] for r in runs) for arm in ARMS if arm != "continued"
        },
        "runs": runs,
    }


def write(summary: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    runs = summary.get("runs", [summary])
    probes = {arm: probe_history(os.path.join(out, arm)) for arm in ("continued", "target_only")
              if os.path.isfile(os.path.join(out, arm, "probe.json"))}  # fmt: skip
    plot_domain(runs, probes, os.path.join(out, "domain_shift.png"))
    print_table(runs, out)


def print_table(runs: list[dict], out: str) -> None:
    seeds = [r["seed"] for r in runs]
    videos = runs[0]["arms"]["scratch"]["videos"]
    print(f"\n=== which start on a shifted domain (seeds {seeds}; test: {videos} videos), top-1")
    print(f"{'':13}" + "".join(f"{'seed ' + str(s):>9}" for s in seeds) + f"{'mean ± sd':>14}  epochs")
    for arm in ARMS:
        values = [r["arms"][arm]["top1"] for r in runs]
        cell = spread(values)
        epochs = "/".join(str(r["arms"][arm]["epochs"]) for r in runs)
        row = "".join(f"{v:9.1f}" for v in values)
        print(f"{arm:13}{row}{cell['mean']:8.1f} ± {cell['sd']:4.1f}  {epochs}")
    for r in runs:
        before, after = r["probe"]["continued"]["before"], r["probe"]["continued"]["after"]
        alone = r["probe"]["target_only"]["after"]
        print(
            f"seed {r['seed']} probe kNN/linear on the target: source {before['knn_top1']:.1f}/"
            f"{before['linear_top1']:.1f}, continued {after['knn_top1']:.1f}/{after['linear_top1']:.1f}, "
            f"target-only {alone['knn_top1']:.1f}/{alone['linear_top1']:.1f}; continued beats "
            + ", ".join(f"{arm} {'yes' if won else 'no'}" for arm, won in r["continued_beats"].items())
        )
    print(f"results: {os.path.join(out, 'results.json')}, plot: {os.path.join(out, 'domain_shift.png')}")


def compare(args) -> dict:
    """One seed: DIR/results.json; several: DIR/seedN/results.json each and DIR/results.json."""
    out = os.path.abspath(args.out)
    if len(args.seeds) == 1:
        return run_seed(args, args.seeds[0], out)
    runs = [run_seed(args, seed, os.path.join(out, f"seed{seed}")) for seed in args.seeds]
    summary = over_seeds(runs)
    write(summary, out)
    return summary
