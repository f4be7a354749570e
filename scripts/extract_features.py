"""One pooled feature vector per video (averaged over the test views) from a checkpoint's encoder.

python scripts/extract_features.py checkpoint=PATH dataset=ucf101 data.root=/data/ucf101 out=feats.npz

checkpoint: a pre-training or fine-tuned checkpoint of any layout videomae.load_weights reads.
dataset= and data.* are the training configs' (configs/dataset/*.yaml); with no dataset=: the demo.
out: .npz (np.load: features (N, D) float32, paths, labels) or .csv (pandas.read_csv: path, label,
f0, ..., one row per video). split: test (default; the validation list when there is no test
list), val or train. Frames and input size default to the model's.
"""

import os
import sys

from videomae.cli import REQUIRED, parse_args, reported_errors
from videomae.errors import ConfigError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
OPTIONS = {
    "checkpoint": REQUIRED,
    "out": "features.npz",
    "split": "test",
    "batch_size": None,  # videos per batch; null: data.test_batch_size
    "device": "auto",  # auto: cuda when available
}


def main(argv: list[str]) -> None:
    args, overrides = parse_args(argv, OPTIONS, passthrough=("dataset", "data."), usage=__doc__)
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from videomae.features import run

    try:
        with initialize_config_dir(config_dir=os.path.abspath(CONFIG_DIR), version_base="1.3"):
            cfg = compose("pretrain", overrides=overrides)
    except HydraException as err:
        raise ConfigError(str(err).splitlines()[0]) from None
    device = args["device"] if args["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    explicit = tuple(o.partition("=")[0].lstrip("+").removeprefix("data.") for o in overrides)
    result = run(
        args["checkpoint"],
        OmegaConf.to_container(cfg.data, resolve=True),
        args["out"],
        split=args["split"],
        batch_size=args["batch_size"],
        device=device,
        explicit=explicit,
    )
    print(
        f"features: {result['num_videos']} videos x {result['dim']} ({result['split']} split, "
        f"{result['views']} views averaged per video) -> {result['out']}"
    )
    if result["skipped"]:
        shown = "\n  ".join(result["skipped"][:20])
        print(f"skipped {len(result['skipped'])} unreadable videos:\n  {shown}", file=sys.stderr)


if __name__ == "__main__":
    with reported_errors():
        main(sys.argv[1:])
