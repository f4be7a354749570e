"""What pre-training buys, in miniature (CPU, under 10 minutes a seed).

1. pre-train VideoMAE on the generated videos' unlabeled training split, with the online probe;
2. fine-tune from that checkpoint on a few labeled videos (--per-class of each class);
3. the same fine-tuning from scratch: the same videos, model, recipe and number of steps;
4. multi-view test of both on the held-out test split, printed side by side;
5. with --long, both arms again with 10x the fine-tuning epochs, so that a gain that is only the
   short schedule's would show (300 epochs of 2 steps each: about 10 times the fine-tuning's time).

python scripts/demo.py                        # seed 0, into runs/demo
python scripts/demo.py --seed 3 --out DIR     # one seed: DIR/results.json, DIR/demo.png
python scripts/demo.py --seeds 0 1 2          # several: DIR/seedN/..., mean and spread printed
Each stage is the real entrypoint's code (videomae.training.pretrain/finetune.run, evaluate); the
overrides are printed, so any stage can be rerun with scripts/pretrain.py/finetune.py. The seed
sets the generated videos as well as the runs. Choices were made on other data than the test
split: the test videos are generated apart and only ever tested on.
"""

import argparse
import json
import os
import shutil
import statistics
import time

from videomae.checkpoints.run_dir import last_checkpoint
from videomae.experiments import distill_compare, domain_shift
from videomae.experiments.overrides import compose_cfg, demo_overrides
from videomae.report.demo import ARMS, LONG_ARMS, plot_demo, read_curves
from videomae.training import evaluate, finetune, pretrain


def fresh(run_dir: str) -> None:
    """The demo's own stage directory, emptied: a run refuses to start over a checkpoint."""
    shutil.rmtree(run_dir, ignore_errors=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out",
        default=None,
        help="run directories and results (runs/demo; --domain-shift: runs/domain-shift)",
    )
    p.add_argument("--seed", type=int, default=0, help="data and runs (with one seed)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="several seeds: DIR/seedN each")
    p.add_argument(
        "--data-root", default=None, help="where the generated videos are cached (~/.cache/videomae)"
    )
    p.add_argument("--unlabeled", type=int, default=60, help="unlabeled training videos per class")
    p.add_argument("--per-class", type=int, default=2, help="labeled videos per class for fine-tuning")
    p.add_argument("--test-per-class", type=int, default=20, help="held-out test videos per class")
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument("--finetune-epochs", type=int, default=30)
    p.add_argument(
        "--long", action="store_true", help="also both arms fine-tuned 10x as long (5. above; slow)"
    )
    p.add_argument("--reuse", action="store_true", help="keep a finished pre-training in --out")
    p.add_argument("--set", nargs="*", default=[], help="extra overrides for every stage (KEY=VALUE)")
    p.add_argument(
        "--distill", action="store_true", help="distillation vs pixel pre-training (docs/distillation.md)"
    )
    d = p.add_argument_group("--domain-shift: which start on a shifted domain (docs/your_videos.md)")
    d.add_argument("--domain-shift", action="store_true", help="direct, continued, target-only, scratch")
    d.add_argument("--target-unlabeled", type=int, default=40, help="unlabeled target videos per class")
    d.add_argument("--target-epochs", type=int, default=20, help="continued (and target-only) pre-training")
    d.add_argument("--target-per-class", type=int, default=4, help="labeled target videos per class")
    d.add_argument("--max-finetune-epochs", type=int, default=40, help="every arm's fine-tuning budget")
    d.add_argument("--val-every", type=int, default=4, help="fine-tuning epochs between validations")
    d.add_argument("--patience", type=int, default=2, help="validations without a rise before stopping")
    return p.parse_args(argv)


def pretrain_stage(args, seed: int, pre_dir: str) -> float:
    """Stage 1, the pre-training (kept with --reuse when it finished); returns its seconds."""
    cfg = stage(
        f"1. pre-training on {8 * args.unlabeled} unlabeled videos (seed {seed})",
        "pretrain",
        [
            *demo_overrides(args, seed),
            f"trainer.max_epochs={args.pretrain_epochs}",
            f"probe.every_n_epochs={max(args.pretrain_epochs // 4, 1)}",
            "probe.train_videos=80",
            "probe.val_videos=80",
            f"checkpoint.every_n_epochs={args.pretrain_epochs}",
            f"viz.every_n_epochs={args.pretrain_epochs}",
        ],
    )
    t = time.perf_counter()
    if not (args.reuse and os.path.isfile(last_checkpoint(pre_dir))):
        fresh(pre_dir)
        pretrain.run(cfg, pre_dir)
    return time.perf_counter() - t


def finetune_stage(
    args, seed: int, run_dir: str, arm: str, pretrained: str, number: int, epochs: int | None = None
) -> dict:
    """One arm: fine-tuning from `pretrained` (null: scratch) for `epochs` (the demo's by
    default), then its multi-view test."""
    epochs = epochs or args.finetune_epochs
    cfg = stage(
        f"{number}. fine-tuning ({arm}), {args.per_class} labeled videos per class",
        "finetune",
        [
            *demo_overrides(args, seed),
            f"pretrained={pretrained}",
            f"data.train_per_class={args.per_class}",
            f"trainer.max_epochs={epochs}",
            f"+trainer.check_val_every_n_epoch={max(epochs // 6, 1)}",
            f"checkpoint.every_n_epochs={epochs}",
        ],
    )
    fresh(run_dir)
    last = finetune.run(cfg, run_dir)
    print(f"\n=== multi-view test ({arm})\n    scripts/evaluate.py checkpoint={run_dir}", flush=True)
    metrics = evaluate.evaluate(last)
    return {k: metrics[k] for k in ("top1", "top5", "mean_class", "videos")}


def copy_last_picture(pictures_dir: str, dst: str) -> None:
    pictures = sorted(os.listdir(pictures_dir)) if os.path.isdir(pictures_dir) else []
    if pictures:
        shutil.copyfile(os.path.join(pictures_dir, pictures[-1]), dst)


def stage(title: str, name: str, overrides: list[str]):
    print(f"\n=== {title}\n    scripts/{name}.py {' '.join(overrides)}", flush=True)
    return compose_cfg(name, overrides)


def run_seed(args, seed: int, out: str) -> dict:
    """The whole chain for one seed; writes out/results.json, out/demo.png, out/reconstruction.png."""
    start = time.perf_counter()
    pre_dir = os.path.join(out, "pretrain")
    times = {"pretrain": pretrain_stage(args, seed, pre_dir)}
    results = {}
    arms = list(zip(ARMS, (pre_dir, "null"), (1, 1), strict=True))
    if args.long:
        arms += list(zip(LONG_ARMS, (pre_dir, "null"), (10, 10), strict=True))
    for number, (arm, pretrained, factor) in enumerate(arms, start=2):
        t = time.perf_counter()
        results[arm] = finetune_stage(
            args, seed, os.path.join(out, f"finetune-{arm}"), arm, pretrained, number,
            epochs=factor * args.finetune_epochs,
        )  # fmt: skip
        times[arm] = time.perf_counter() - t
    curves = read_curves(out)
    probe = curves["probe"]
    summary = {
        "seed": seed,
        "arms": results,
        "gain_top1": results["pre-trained"]["top1"] - results["scratch"]["top1"],
        **(
            {"gain_top1_10x": results[LONG_ARMS[0]]["top1"] - results[LONG_ARMS[1]]["top1"]}
            if args.long
            else {}
        ),
        "probe": {"before": probe[0] if probe else None, "after": probe[-1] if probe else None},
        "pretrain_loss": {"first_epoch": curves["loss"][0][1], "last_epoch": curves["loss"][-1][1]}
        if curves["loss"]
        else None,
        "minutes": {k: v / 60 for k, v in times.items()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("seeds", "out", "reuse")},
    }
    summary["minutes"]["total"] = (time.perf_counter() - start) / 60
    plot_demo(curves, os.path.join(out, "demo.png"), title=f"seed {seed}")
    copy_last_picture(os.path.join(pre_dir, "pictures"), os.path.join(out, "reconstruction.png"))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print_seed(summary, out)
    return summary


def print_seed(summary: dict, out: str) -> None:
    arms = summary["arms"]
    print(f"\n=== what pre-training buys (seed {summary['seed']}; test: {arms['scratch']['videos']} videos)")
    print(f"{'':16}{'top-1':>8}{'top-5':>8}{'mean class':>12}")
    for arm, m in arms.items():
        print(f"{arm:16}{m['top1']:8.1f}{m['top5']:8.1f}{m['mean_class']:12.1f}")
    before, after = summary["probe"]["before"], summary["probe"]["after"]
    if before and after:
        print(
            f"probe (frozen encoder): kNN {before['knn_top1']:.1f} -> {after['knn_top1']:.1f}, "
            f"linear {before['linear_top1']:.1f} -> {after['linear_top1']:.1f}"
        )
    print(f"{summary['minutes']['total']:.1f} min; results: {os.path.join(out, 'results.json')}, "
          f"plot: {os.path.join(out, 'demo.png')}")  # fmt: skip


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):5.1f} ± {sd:4.1f}"


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.out = args.out or ("runs/domain-shift" if args.domain_shift else "runs/demo")
    out = os.path.abspath(args.out)
    if args.distill:
        return distill_compare.compare(distill_compare.settings(args))
    if args.domain_shift:
        return domain_shift.compare(domain_shift.settings(args))
    if not args.seeds:
        return run_seed(args, args.seed, out)
    runs = [run_seed(args, seed, os.path.join(out, f"seed{seed}")) for seed in args.seeds]
    print(f"\n=== over seeds {' '.join(map(str, args.seeds))}: mean ± standard deviation")
    print(f"{'':14}{'top-1':>14}{'top-5':>14}{'mean class':>14}")
    for arm in [a for a in (*ARMS, *LONG_ARMS) if a in runs[0]["arms"]]:
        cols = [spread([r["arms"][arm][k] for r in runs]) for k in ("top1", "top5", "mean_class")]
        print(f"{arm:14}" + "".join(f"{c:>14}" for c in cols))
    gains = [r["gain_top1"] for r in runs]
    print(f"{'gain':14}{spread(gains):>14}   per seed: {', '.join(f'{g:+.1f}' for g in gains)}")
    summary = {"seeds": args.seeds, "runs": runs, "gain_top1": gains}
    if args.long:
        summary["gain_top1_10x"] = [r["gain_top1_10x"] for r in runs]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


if __name__ == "__main__":
    main()
