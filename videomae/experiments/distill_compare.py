"""Distillation against pixel pre-training of the same small student, at equal wall-clock, in
miniature on CPU (`python scripts/demo.py --distill`; docs/distillation.md).

Teacher: the demo's pre-trained model (scripts/demo.py's stage 1, the same overrides; reused when
`--out` already holds it), and, for the `logits` target, that model fine-tuned on the demo's few
labels. Student: the demo model cut to 2 blocks of width 96. Arms, each on the same unlabeled
videos: `pixel` (VideoMAE pre-training of the student), `latent`, `features`, `logits`.

Equal wall-clock: every arm's step time is measured alone first (short runs, one arm after the
other, the median over 3-step windows: `step_times`), and each arm gets
`budget / its step time` steps, the budget being what the pixel arm's `--epochs` take. The arms then
run one after the other with those step counts, so a change in the machine's load during the
comparison does not change what each arm trains on. Each arm then: its online probe (kNN and
linear top-1 on the validation split), and fine-tuning on `--per-class` labeled videos with the
multi-view test on the held-out test split. Over several run seeds (the videos stay those of `--data-seed`).
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import time

from videomae.checkpoints.run_dir import last_checkpoint
from videomae.experiments.distill_plot import plot_compare
from videomae.experiments.overrides import compose_cfg, demo_overrides
from videomae.training import distill, evaluate, finetune, pretrain

ARMS = ("pixel", "latent", "features", "logits")
# The student: the demo model (configs/model/demo.yaml: patch 8, 1-block decoder) at 2 blocks of 96.
STUDENT = [
    "model.depth=2",
    "model.embed_dim=96",
    "model.num_heads=3",
    "model.decoder_embed_dim=64",
    "model.decoder_num_heads=2",
]


# Per-target settings (overrides of scripts/distill.py), chosen on the validation split: see
# docs/distillation.md for what was tried.
DISTILL_SETTINGS: dict[str, list[str]] = {
    "latent": [],
    "features": ["distill.teacher_mask_ratio=0.5"],
    "logits": [],
}


def settings(demo_args: argparse.Namespace) -> argparse.Namespace:
    """The comparison's settings from scripts/demo.py's arguments: its data, labels and fine-tuning;
    run seeds `--seeds`, else `--seed` and the next two; the videos of the demo's default seed 0."""
    seeds = demo_args.seeds or [demo_args.seed, demo_args.seed + 1, demo_args.seed + 2]
    return argparse.Namespace(
        out=demo_args.out,
        data_root=demo_args.data_root,
        data_seed=0,
        unlabeled=demo_args.unlabeled,
        per_class=demo_args.per_class,
        test_per_class=demo_args.test_per_class,
        teacher_epochs=demo_args.pretrain_epochs,
        finetune_epochs=demo_args.finetune_epochs,
        epochs=4,  # the pixel arm's budget in epochs of the unlabeled videos; the others' in its seconds
        timing_steps=18,  # inside the first epoch (30 steps): 5 windows of 3 steps after the first
        timing_rounds=1,
        seeds=seeds,
        set=demo_args.set,
        distill_set=DISTILL_SETTINGS,
    )


def common(args, seed: int) -> list[str]:
    """scripts/demo.py's overrides of every stage, with the videos of `args.data_seed`."""
    return demo_overrides(args, seed, args.data_seed)


def stage(title: str, name: str, overrides: list[str]):
    print(f"\n=== {title}\n    scripts/{name}.py {' '.join(overrides)}", flush=True)
    return compose_cfg(name, overrides)


def fresh_run(fn, cfg, run_dir: str, reuse: bool = False) -> str:
    """Run `fn(cfg, run_dir)` in an emptied directory (kept with `reuse` when it finished)."""
    if reuse and os.path.isfile(last_checkpoint(run_dir)):
        return last_checkpoint(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return fn(cfg, run_dir)


def teachers(args, out: str) -> tuple[str, str]:
    """(pre-trained teacher, fine-tuned teacher): scripts/demo.py's stage 1 and its fine-tuning."""
    pre = os.path.join(out, "pretrain")  # where scripts/demo.py --out DIR pre-trains it
    cfg = stage(
        "teacher: the demo's pre-training", "pretrain",
        [*common(args, args.data_seed), f"trainer.max_epochs={args.teacher_epochs}",
         f"probe.every_n_epochs={max(args.teacher_epochs // 4, 1)}", "probe.train_videos=80",
         "probe.val_videos=80", f"checkpoint.every_n_epochs={args.teacher_epochs}",
         f"viz.every_n_epochs={args.teacher_epochs}"],
    )  # fmt: skip
    fresh_run(pretrain.run, cfg, pre, reuse=True)
    tuned = os.path.join(out, "teacher-finetuned")
    cfg = stage("teacher fine-tuned on the few labels (the logits target's)", "finetune",
                [*common(args, args.data_seed), f"pretrained={pre}", *finetune_overrides(args)])  # fmt: skip
    fresh_run(finetune.run, cfg, tuned, reuse=True)
    return pre, tuned


def finetune_overrides(args, validations: int = 6) -> list[str]:
    return [
        f"data.train_per_class={args.per_class}",
        f"trainer.max_epochs={args.finetune_epochs}",
        f"+trainer.check_val_every_n_epoch={max(args.finetune_epochs // validations, 1)}",
        f"checkpoint.every_n_epochs={args.finetune_epochs}",
    ]


def arm_stage(args, arm: str, seed: int, teacher: dict, steps: int, probe: bool = True):
    """The config of one arm's student run: pixel pre-training or one distillation target."""
    overrides = [
        *common(args, seed),
        *STUDENT,
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=-1",
        f"checkpoint.every_n_epochs={10**6}",
        *(
            ["probe.every_n_epochs=1000", "probe.train_videos=80", "probe.val_videos=80"]
            if probe
            else ["probe.enabled=false"]
        ),
    ]
    if arm == "pixel":
        return stage(f"{arm} (seed {seed}, {steps} steps)", "pretrain", [*overrides, "viz.every_n_epochs=0"])
    chosen = teacher["finetuned" if arm == "logits" else "pretrained"]
    extra = [f"teacher={chosen}", f"distill.target={arm}", *args.distill_set.get(arm, [])]
    return stage(f"{arm} (seed {seed}, {steps} steps)", "distill", [*overrides, *extra])


def run_arm(cfg, arm: str, run_dir: str) -> str:
    return fresh_run(pretrain.run if arm == "pixel" else distill.run, cfg, run_dir)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def step_times(args, out: str, teacher: dict) -> dict[str, float]:
    """Seconds per training step of each arm, measured alone: `timing_steps`-step runs, in
    `timing_rounds` rounds interleaved over the arms, the clips per second of every 3-step logging
    window after the first (start-up) read back from metrics.csv; the median of an arm's windows,
    because another process's load on a shared machine slows some windows down."""
    windows: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for number in range(args.timing_rounds):
        for arm in ARMS:
            run_dir = os.path.join(out, "timing", f"{arm}-round{number}")
            cfg = arm_stage(args, arm, args.seeds[0], teacher, args.timing_steps, probe=False)
            cfg.trainer.log_every_n_steps = 3
            run_arm(cfg, arm, run_dir)
            with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
                rates = [
                    float(r["train/clips_per_sec"]) for r in csv.DictReader(f) if r.get("train/clips_per_sec")
                ]
            windows[arm] += [cfg.data.batch_size / rate for rate in rates[1:]]
    os.makedirs(os.path.join(out, "timing"), exist_ok=True)
    with open(os.path.join(out, "timing", "windows.json"), "w", encoding="utf-8") as f:
        json.dump(windows, f, indent=2)
    return {arm: statistics.median(values) for arm, values in windows.items()}


def finetuned_test(run_dir: str) -> float:
    """The fine-tuned teacher's own test top-1 (what the logits target distils)."""
    return evaluate.evaluate(last_checkpoint(run_dir))["top1"]


def finetune_arm(args, seed: int, pretrained: str, run_dir: str) -> dict:
    cfg = stage(f"fine-tuning from {pretrained}", "finetune",
                [*common(args, seed), *STUDENT, f"pretrained={pretrained}",
                 *finetune_overrides(args, validations=1)])  # fmt: skip
    last = fresh_run(finetune.run, cfg, run_dir)  # validated once, at the end: the test decides
    metrics = evaluate.evaluate(last)
    return {k: metrics[k] for k in ("top1", "top5", "mean_class")}


def probe_result(run_dir: str) -> dict:
    history = read_json(os.path.join(run_dir, "probe.json"))
    history = history if isinstance(history, list) else history.get("history", [])
    return {k: history[-1][k] for k in ("knn_top1", "linear_top1")}


def compare(args) -> dict:
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    pre, tuned = teachers(args, out)
    teacher = {"pretrained": pre, "finetuned": tuned, "finetuned_test": finetuned_test(tuned)}
    times = step_times(args, out, teacher)
    steps_per_epoch = (8 * args.unlabeled) // 16
    budget_s = args.epochs * steps_per_epoch * times["pixel"]
    steps = {arm: max(int(budget_s / times[arm]), 1) for arm in ARMS}
    print(f"\n=== equal wall-clock: {budget_s:.0f} s each; s/step {times}; steps {steps}", flush=True)
    runs = []
    for seed in args.seeds:
        result: dict = {"seed": seed, "arms": {}}
        for arm in ARMS:
            run_dir = os.path.join(out, f"seed{seed}", arm)
            last = run_arm(arm_stage(args, arm, seed, teacher, steps[arm]), arm, run_dir)
            ft = finetune_arm(args, seed, last, os.path.join(out, f"seed{seed}", f"{arm}-finetuned"))
            result["arms"][arm] = {"probe": probe_result(run_dir), "finetune": ft}
        runs.append(result)
        write(out, args, runs, times, steps, budget_s, teacher, started)
    return write(out, args, runs, times, steps, budget_s, teacher, started)


def spread(values: list[float]) -> dict:
    return {
        "mean": statistics.mean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def write(out, args, runs, times, steps, budget_s, teacher, started) -> dict:
    """results.json and distill.png, rewritten after every seed (a long run shows its progress)."""
    table = {
        arm: {
            "test_top1": spread([r["arms"][arm]["finetune"]["top1"] for r in runs]),
            "knn_top1": spread([r["arms"][arm]["probe"]["knn_top1"] for r in runs]),
            "linear_top1": spread([r["arms"][arm]["probe"]["linear_top1"] for r in runs]),
        }
        for arm in ARMS
    }
    wins = {
        arm: [r["arms"][arm]["finetune"]["top1"] > r["arms"]["pixel"]["finetune"]["top1"] for r in runs]
        for arm in ARMS[1:]
    }
    summary = {
        "seeds": [r["seed"] for r in runs],
        "table": table,
        "beats_pixel_on_every_seed": {arm: all(w) for arm, w in wins.items()},
        "wins_per_seed": wins,
        "seconds_per_step": times,
        "steps": steps,
        "budget_s": budget_s,
        "teacher": teacher,
        "runs": runs,
        "minutes": (time.perf_counter() - started) / 60,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
    }  # fmt: skip
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    plot_compare(summary, os.path.join(out, "distill.png"))
    print_table(summary, out)
    return summary


def print_table(summary: dict, out: str) -> None:
    print(f"\n=== distillation vs pixel pre-training at equal wall-clock, seeds {summary['seeds']}")
    print(f"{'':10}{'steps':>7}{'test top-1':>16}{'probe kNN':>16}{'probe linear':>16}")
    for arm, row in summary["table"].items():
        cells = [
            f"{row[k]['mean']:5.1f} ± {row[k]['sd']:4.1f}" for k in ("test_top1", "knn_top1", "linear_top1")
        ]
        print(f"{arm:10}{summary['steps'][arm]:>7}" + "".join(f"{c:>16}" for c in cells))
    print(f"beats pixel on every seed (test top-1): {summary['beats_pixel_on_every_seed']}")
    print(f"results: {os.path.join(out, 'results.json')}, plot: {os.path.join(out, 'distill.png')}")
