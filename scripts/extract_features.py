"""Features from a checkpoint's encoder: one vector per video (mode=clip, averaged over the test
views) or one per window slid over each whole video (mode=dense, for temporal action detection).

python scripts/extract_features.py checkpoint=PATH dataset=ucf101 data.root=/data/ucf101 out=feats.npz
python scripts/extract_features.py checkpoint=PATH dataset=folder data.root=/data/thumos data.layout=folder \
    mode=dense stride=4 data.sampling_rate=1 split=all out=features/      # one .npy per video + index.csv
torchrun --nproc-per-node=8 scripts/extract_features.py ... mode=dense   # one shard of the videos per GPU

checkpoint: a pre-training or fine-tuned checkpoint of any layout videomae.load_weights reads.
dataset= and data.* are the training configs' (configs/dataset/*.yaml); with no dataset=: the demo.
out: .npz (np.load: features (N, D) float32, paths, labels) or .csv (pandas.read_csv: path, label,
f0, ..., one row per video); mode=dense: a folder (<video>.npy (windows, dim) float32, index.csv,
index.json). split: test (default; the validation list when there is no test list), val, train,
all (dense). Frames and input size default to the model's; dense windows take data.num_frames
frames every data.sampling_rate frames, slid by stride= frames, centre crop at data.input_size.
layer=N: the output of block N (1-based; default the last, after the final norm).
pool=mean|cls_like|none|attentive: the tokens' mean; what a classifier head reads (fc_norm of the
mean); none: the token grid (t, h, w, D); attentive: the pooled vector of a trained probe, probe=RUN
(a scripts/probe.py run on this encoder). A dense run resumes: videos already written are skipped.
"""

import os
import sys

from videomae.config.cli import REQUIRED, parse_args, reported_errors
from videomae.utils.errors import ConfigError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
OPTIONS = {
    "checkpoint": REQUIRED,
    "out": "features.npz",
    "split": "test",
    "batch_size": None,  # videos per batch; null: data.test_batch_size
    "device": "auto",  # auto: cuda when available
    "layer": None,
    "pool": "mean",
    "probe": None,
    "mode": "clip",
    "stride": 4,
}


def main(argv: list[str]) -> None:
    args, overrides = parse_args(argv, OPTIONS, passthrough=("dataset", "data."), usage=__doc__)
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from videomae.eval.features import run

    try:
        with initialize_config_dir(config_dir=os.path.abspath(CONFIG_DIR), version_base="1.3"):
            cfg = compose("pretrain", overrides=overrides)
    except HydraException as err:
        raise ConfigError(str(err).splitlines()[0]) from None
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))  # torchrun, srun
    device = args["device"] if args["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    layer = args["layer"]
    if isinstance(layer, str):
        raise ConfigError(f"layer={layer!r}: a block number (1-based; -1 the last)")
    explicit = tuple(o.partition("=")[0].lstrip("+").removeprefix("data.") for o in overrides)
    result = run(
        args["checkpoint"],
        OmegaConf.to_container(cfg.data, resolve=True),
        args["out"],
        split=args["split"],
        batch_size=args["batch_size"],
        device=device,
        explicit=explicit,
        layer=layer,
        pool="none" if args["pool"] is None else args["pool"],  # the parser reads `none` as null
        probe=args["probe"],
        mode=args["mode"],
        stride=int(args["stride"]),
        shard=(rank, world),
    )
    if result["mode"] == "dense":
        print(f"dense features: {result['num_videos']} videos written, {result['windows']} windows "
              f"({result['split']} split) -> {result['out']}; index: {result['index']}")  # fmt: skip
    else:
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
