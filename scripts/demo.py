"""What pre-training buys, in miniature (CPU, about 10 minutes).

1. pre-train VideoMAE on the generated videos' training split, labels unused;
2. fine-tune from that checkpoint on a small labeled subset (--per-class videos of each class);
3. the same fine-tuning from scratch: the same subset, model, recipe and number of steps;
4. multi-view test of both on the validation split, printed side by side.

python scripts/demo.py                      # the defaults below
python scripts/demo.py --per-class 10 --out runs/demo2
Each stage is the real entrypoint's code (videomae.training.pretrain/finetune.run, evaluate); the
overrides it uses are printed, so any stage can be rerun with scripts/pretrain.py/finetune.py.
"""

import argparse
import os
import sys
import time

from hydra import compose, initialize_config_dir

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from videomae.training import finetune, pretrain  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo", help="run directories go here")
    p.add_argument(
        "--data-root", default=None, help="where the generated videos are cached (~/.cache/videomae)"
    )
    p.add_argument("--per-class", type=int, default=10, help="labeled videos per class for fine-tuning")
    p.add_argument("--pretrain-epochs", type=int, default=40, help="of the 320 unlabeled videos")
    p.add_argument("--finetune-epochs", type=int, default=30)
    p.add_argument("--depth", type=int, default=4, help="encoder depth (vit_tiny width 192)")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--patch-size", type=int, default=8)
    p.add_argument("--mask-ratio", type=float, default=0.9)
    p.add_argument(
        "--pretrain-lr", type=float, default=4.8e-2, help="optim.base_lr of pre-training (x batch / 256)"
    )
    p.add_argument(
        "--finetune-lr", type=float, default=1.6e-2, help="optim.base_lr of fine-tuning (x batch / 256)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", action="store_true", help="keep a finished pre-training in --out")
    p.add_argument("--set", nargs="*", default=[], help="extra overrides for every stage (KEY=VALUE)")
    return p.parse_args(argv)


def common(args) -> list[str]:
    return [
        "dataset=synthetic",
        *([f"data.root={os.path.abspath(os.path.expanduser(args.data_root))}"] if args.data_root else []),
        f"model.depth={args.depth}",
        f"model.patch_size={args.patch_size}",
        f"data.input_size={args.input_size}",
        "data.num_frames=16",
        "data.num_workers=2",
        "logger=csv",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "+trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"seed={args.seed}",
        *args.set,
    ]


def compose_cfg(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=os.path.abspath(CONFIGS), version_base="1.3"):
        return compose(name, overrides=overrides)


def stage(title: str, name: str, overrides: list[str]):
    print(f"\n=== {title}\n    scripts/{name}.py {' '.join(overrides)}", flush=True)
    return compose_cfg(name, overrides)


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    start = time.perf_counter()
    times = {}

    pre_dir = os.path.join(out, "pretrain")
    cfg = stage(
        "1. pre-training on unlabeled videos",
        "pretrain",
        [
            *common(args),
            f"trainer.max_epochs={args.pretrain_epochs}",
            f"mask.ratio={args.mask_ratio}",
            "model.decoder_depth=2",
            "optim.warmup_epochs=4",
            f"optim.base_lr={args.pretrain_lr}",
            f"checkpoint.every_n_epochs={args.pretrain_epochs}",
            f"viz.every_n_epochs={args.pretrain_epochs}",
        ],
    )
    t = time.perf_counter()
    if not (args.reuse and os.path.isfile(os.path.join(pre_dir, "checkpoints", "last.ckpt"))):
        pretrain.run(cfg, pre_dir)
    times["pretrain"] = time.perf_counter() - t

    results = {}
    for arm, pretrained in (("pre-trained", pre_dir), ("scratch", "null")):
        run_dir = os.path.join(out, f"finetune-{arm}")
        cfg = stage(
            f"{3 if arm == 'scratch' else 2}. fine-tuning ({arm}), {args.per_class} labeled videos per class",
            "finetune",
            [
                *common(args),
                f"pretrained={pretrained}",
                f"data.train_per_class={args.per_class}",
                "data.batch_size=8",
                f"optim.base_lr={args.finetune_lr}",
                f"trainer.max_epochs={args.finetune_epochs}",
                f"+trainer.check_val_every_n_epoch={args.finetune_epochs}",
                "+trainer.num_sanity_val_steps=0",
                "data.test_clips=2",
                "data.test_crops=1",
                f"checkpoint.every_n_epochs={args.finetune_epochs}",
            ],
        )
        t = time.perf_counter()
        last = finetune.run(cfg, run_dir)
        print(f"\n=== multi-view test ({arm})\n    scripts/evaluate.py checkpoint={run_dir}", flush=True)
        results[arm] = finetune.evaluate(last)
        times[arm] = time.perf_counter() - t

    total = time.perf_counter() - start
    print(f"\n=== what pre-training buys ({args.per_class} labeled videos per class, 8 classes; test: "
          f"{results['scratch']['videos']} videos)")  # fmt: skip
    print(f"{'':14}{'top-1':>8}{'top-5':>8}{'mean class':>12}{'minutes':>9}")
    for arm, m in results.items():
        print(f"{arm:14}{m['top1']:8.1f}{m['top5']:8.1f}{m['mean_class']:12.1f}{times[arm] / 60:9.1f}")
    print(f"pre-training: {times['pretrain'] / 60:.1f} min; whole demo: {total / 60:.1f} min; runs in {out}")
    return {"results": results, "times": times, "total": total}


if __name__ == "__main__":
    main()
