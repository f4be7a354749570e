"""The overrides every stage of the demo and its experiments shares, and the configs they compose."""

import os

from hydra import compose, initialize_config_dir

CONFIGS = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs"))


def compose_cfg(name: str, overrides: list[str]):
    """The repository's config `name` (pretrain, finetune, distill, probe) with `overrides`."""
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(name, overrides=overrides)


def demo_overrides(args, seed: int, data_seed: int | None = None) -> list[str]:
    """The demo dataset (its settings: configs/dataset/synthetic.yaml, model/demo.yaml,
    recipe/*_synthetic.yaml), the videos of `data_seed` (default: `seed`), CPU, one progress line
    per epoch, then the user's `--set`. `args`: scripts/demo.py's arguments."""
    root = os.path.abspath(os.path.expanduser(args.data_root)) if args.data_root else None
    return [
        "dataset=synthetic",
        *([f"data.root={root}"] if root else []),
        f"data.synthetic.seed={seed if data_seed is None else data_seed}",
        f"data.synthetic.num_train_per_class={args.unlabeled}",
        f"data.synthetic.num_test_per_class={args.test_per_class}",
        "data.test_list=test.csv",
        "logger=csv",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "+trainer.enable_model_summary=false",
        "progress.style=lines",
        f"seed={seed}",
        *args.set,
    ]
