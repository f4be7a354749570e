"""Multi-view test of a fine-tuned checkpoint on the dataset it was trained for.

python scripts/evaluate.py checkpoint=runs/finetune/RUN/checkpoints/last.ckpt
python scripts/evaluate.py checkpoint=RUN_DIR data.root=/data/ucf101 trainer.devices=8 trainer.strategy=ddp

Options: checkpoint=PATH (a fine-tuning checkpoint or run directory), out=DIR (where predictions.csv
goes; default: the run's eval/), ema=true (test the EMA weights), and any key of the fine-tuning
config (data.root=..., data.test_clips=..., trainer.devices=...). Prints top-1, top-5, mean
per-class accuracy and each class's accuracy by name; writes one row per test video to
predictions.csv and the metrics to metrics.json (which an HF export's model card reports).
"""

import sys

from videomae.config.cli import ANY_KEY, REQUIRED, parse_args, reported_errors
from videomae.training.evaluate import evaluate

OPTIONS = {"checkpoint": REQUIRED, "out": None, "ema": False}


def main(argv: list[str]) -> None:
    args, overrides = parse_args(argv, OPTIONS, passthrough=ANY_KEY, usage=__doc__)
    evaluate(args["checkpoint"], overrides, out_dir=args["out"], ema=args["ema"])


if __name__ == "__main__":
    with reported_errors():
        main(sys.argv[1:])
