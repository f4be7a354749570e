"""Multi-view test of a fine-tuned checkpoint on the dataset it was trained for.

python scripts/evaluate.py checkpoint=runs/finetune/RUN/checkpoints/last.ckpt
python scripts/evaluate.py checkpoint=RUN_DIR data.root=/data/ucf101 trainer.devices=8 trainer.strategy=ddp

Options: checkpoint=PATH (a fine-tuning checkpoint or run directory), out=DIR (where predictions.csv
goes; default: the run's eval/), ema=true (test the EMA weights), and any key of the fine-tuning
config (data.root=..., data.test_clips=..., trainer.devices=...). Prints top-1, top-5, mean
per-class accuracy and each class's accuracy by name; writes one row per test video to
predictions.csv and the metrics to metrics.json (which an HF export's model card reports).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from videomae.cli import reported_errors  # noqa: E402
from videomae.training.evaluate import evaluate  # noqa: E402

USAGE = (
    "usage: python scripts/evaluate.py checkpoint=PATH [out=DIR] [ema=true] [data.root=DIR] [KEY=VALUE ...]"
)


def main(argv: list[str]) -> None:
    options, overrides = {}, []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            print(__doc__)
            return
        if not eq:
            print(f"error: {arg!r} is not KEY=VALUE\n{USAGE}", file=sys.stderr)
            sys.exit(2)
        if key in ("checkpoint", "out", "ema"):
            options[key] = value
        else:
            overrides.append(arg)
    if "checkpoint" not in options:
        print(f"error: checkpoint=PATH is required\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    with reported_errors():
        evaluate(
            options["checkpoint"],
            overrides,
            out_dir=options.get("out"),
            ema=options.get("ema", "false").lower() in ("1", "true", "yes"),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
