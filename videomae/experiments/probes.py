"""The frozen probes on the demo: does the attentive probe see what pre-training learned?

Three arms over seeds, each a real `scripts/probe.py` run (a fresh process) on the demo's
generated videos, with the same videos, probe settings and budget:
1. the attentive probe on the demo's pre-trained encoder (`--pretrained`, a pre-training run);
2. the same probe on a randomly initialised encoder of the same architecture;
3. the linear probe on the pre-trained encoder.
Heads are chosen on the validation split and reported on the separate test split. The seed is
the probe's (heads' initialisation, augmentation, batch order) over one pre-trained checkpoint.

Difficulty: the demo's default videos are solved by a kNN on the pre-trained features (100% in
the demo's online probe), where no probe can beat another. `--coherence` (the share of dots moving
the class's way) makes the task harder; `--coherence auto` takes the largest of `--candidates`
whose kNN top-1 on the *validation* split is under `--ceiling`, the test split untouched.
`--turn` asks where/when: the dots reverse halfway, so east-then-west and west-then-east hold the
same motions and only the order of the tokens in time tells them apart. `--figure` asks where:
the class's drift is only in a bright square, and the rest of the frame pans one random way.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

from videomae.checkpoints import build_model, describe_model, export_ours, model_from_checkpoint
from videomae.checkpoints.run_dir import run_checkpoint
from videomae.data.annotations import read_list
from videomae.data.sampling import window_indices
from videomae.data.synthetic import SyntheticSpec, class_names
from videomae.data.video import read_frames
from videomae.eval.features import encoder_tokens, load_probe_head
from videomae.experiments.overrides import compose_cfg
from videomae.models.probe_heads import AttentiveHead
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import normalize_uint8
from videomae.viz.probe_attention import attention_picture, token_attention

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "probe.py")
ARMS = {
    "attentive / pre-trained": ("pretrained", "attentive"),
    "attentive / random init": ("random", "attentive"),
    "linear / pre-trained": ("pretrained", "linear"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pretrained", required=True, help="the demo's pre-training run directory")
    p.add_argument("--out", default="runs/probe-demo")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-seed", type=int, default=0, help="the generated videos (the pre-training's)")
    p.add_argument("--train-per-class", type=int, default=20, help="labeled training videos per class")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimizer steps instead of --epochs: the epochs that give each label budget the same steps",
    )
    p.add_argument("--depth", type=int, default=1, help="attentive blocks (1: V-JEPA's probe; 4: V-JEPA 2's)")
    p.add_argument("--lrs", default="[1e-2,1e-3]", help="the grid of both arms (chosen on the val split)")
    p.add_argument("--coherence", default="auto", help="dot coherence, or auto (chosen on the val split)")
    p.add_argument("--candidates", type=float, nargs="+", default=[1.0, 0.5, 0.3, 0.2])
    p.add_argument("--ceiling", type=float, default=90.0)
    p.add_argument(
        "--turn",
        action="store_true",
        help="the dots reverse halfway (the class: which motion comes first); 16-frame videos, one clip each",
    )
    p.add_argument(
        "--figure",
        type=float,
        default=0.0,
        help="the class's drift only in a bright square of this share of the frame, the rest panning one way",
    )
    p.add_argument("--set", nargs="*", default=[], help="extra overrides for every probe run")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), help="a subset of the arms")
    return p.parse_args(argv)


def data_overrides(args, coherence: float) -> list[str]:
    """The demo's videos as its pre-training saw them (scripts/demo.py: 60 unlabeled training, 10
    validation and 20 test videos per class), at this coherence, on CPU."""
    return [
        "dataset=synthetic",
        f"data.synthetic.seed={args.data_seed}",
        "data.synthetic.num_train_per_class=60",
        "data.synthetic.num_test_per_class=20",
        "data.test_list=test.csv",
        f"data.synthetic.dot_coherence={coherence}",
        # The turn at the clip's middle: a 16-frame video is exactly one clip of 8 frames x 2.
        *(["data.synthetic.dot_turn=true", "data.synthetic.num_frames=16"] if args.turn else []),
        *([f"data.synthetic.dot_figure={args.figure}"] if args.figure else []),
        f"data.train_per_class={args.train_per_class}",
        "data.num_workers=1",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "progress.style=lines",
        "+trainer.enable_model_summary=false",
        *args.set,
    ]


def probe(run_dir: str, checkpoint: str, overrides: list[str]) -> dict:
    """One scripts/probe.py run (kept when it finished before: the experiment resumes)."""
    metrics = os.path.join(run_dir, "probe", "metrics.json")
    if not os.path.isfile(metrics):
        command = [sys.executable, SCRIPT, f"checkpoint={checkpoint}", f"hydra.run.dir={run_dir}", *overrides]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True)
    with open(metrics) as f:
        return json.load(f)


def random_encoder(pretrained: str, path: str) -> str:
    """The pre-trained model's architecture with its initial weights (what pre-training starts from),
    drawn from a fixed seed so that a rerun elsewhere probes the same random encoder."""
    if not os.path.isfile(path):
        model, _ = model_from_checkpoint(pretrained)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            export_ours(build_model(describe_model(model)), path)
    return path


def epochs_for(args, overrides: list[str]) -> int:
    """`--epochs`, or with `--steps` the epochs that make that many optimizer steps over the labeled
    videos: the classes and batch size of the probe runs' own config, the last partial batch dropped."""
    if args.steps is None:
        return args.epochs
    data = compose_cfg("probe", overrides).data
    num_classes = len(class_names(SyntheticSpec(**data.synthetic)))
    per_epoch = max(1, num_classes * args.train_per_class // data.batch_size)
    return -(-args.steps // per_epoch)


def choose_coherence(args, checkpoint: str) -> tuple[float, dict]:
    if args.coherence != "auto":
        return float(args.coherence), {}
    tried = {}
    for coherence in sorted(args.candidates, reverse=True):
        run_dir = os.path.join(args.out, f"difficulty-knn-coherence{coherence:g}")
        record = probe(run_dir, checkpoint, [*data_overrides(args, coherence), "probe=knn"])
        tried[coherence] = record["chosen"]["selection_top1"]
        print(
            f"coherence {coherence:g}: kNN top-1 on the validation split {tried[coherence]:.1f}%", flush=True
        )
        if tried[coherence] < args.ceiling:
            return coherence, tried
    return min(args.candidates), tried


@torch.no_grad()
def draw_attention(runs: dict[str, str], overrides: list[str], path: str) -> str:
    """Where each attentive run's chosen head looks on the first test video of every class: its
    query's attention over the tokens of the video's middle clip, the whole (square) frame."""
    data = compose_cfg("probe", overrides).data
    records = {}
    for label, run_dir in runs.items():
        with open(os.path.join(run_dir, "probe", "metrics.json")) as f:
            records[label] = json.load(f)
    first = next(iter(records.values()))
    names = class_names(SyntheticSpec(**data.synthetic))
    by_class: dict[int, str] = {}
    for video, class_id in read_list(os.path.join(first["data_root"], data.test_list or data.val_list)):
        by_class.setdefault(class_id, video)

    def middle_clip(n: int) -> np.ndarray:
        start = max((n - data.num_frames * data.sampling_rate) // 2, 0)
        return window_indices(n, start, data.num_frames, data.sampling_rate, mode="uniform")

    frames = np.stack([read_frames(by_class[c], middle_clip) for c in sorted(by_class)])  # (B, T, H, W, 3)
    clips = normalize_uint8(torch.from_numpy(frames).permute(0, 4, 1, 2, 3))
    if frames.shape[2] != data.input_size:
        size = (data.num_frames, data.input_size, data.input_size)
        clips = F.interpolate(clips, size=size, mode="trilinear", align_corners=False)
    maps = {}
    for label, run_dir in runs.items():
        head, protocol = load_probe_head(run_dir)
        if not isinstance(head, AttentiveHead):
            raise ConfigError(f"{run_dir}: a {protocol['kind']} probe has no query to draw")
        model, _ = model_from_checkpoint(records[label]["checkpoint"]["path"])
        tokens = encoder_tokens(model.eval(), clips, protocol["layer"])
        maps[label] = token_attention(head, tokens, model.encoder.grid).numpy()
    title = "where the attentive probe's query looks (test videos; brighter: more attention, over time)"
    captions = [names[c] for c in sorted(by_class)]
    attention_picture(frames[:, frames.shape[1] // 2], maps, captions, title).save(path)
    return path


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pretrained = run_checkpoint(args.pretrained)
    checkpoints = {
        "pretrained": pretrained,
        "random": random_encoder(pretrained, os.path.join(args.out, "random.safetensors")),
    }
    coherence, tried = choose_coherence(args, pretrained)
    epochs = epochs_for(args, data_overrides(args, coherence))
    common = [
        *data_overrides(args, coherence),
        f"probe.epochs={epochs}",
        f"probe.lrs={args.lrs}",
        "probe.weight_decays=[0.01]",
        f"probe.depth={args.depth}",
        "probe.select=val",
        # The head is chosen after the last epoch; these passes only draw the curve (about ten).
        f"trainer.check_val_every_n_epoch={max(4, epochs // 10)}",
    ]
    results: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    for seed in args.seeds:
        for arm in args.arms:
            encoder, kind = ARMS[arm]
            name = f"seed{seed}-{kind}-{encoder}"
            record = probe(
                os.path.join(args.out, name), checkpoints[encoder], [*common, f"probe={kind}", f"seed={seed}"]
            )
            chosen = record["chosen"]
            row = {"seed": seed, "head": chosen["head"], "test_top1": chosen["top1"]}
            row.update(val_top1=chosen["selection_top1"], epoch_time_s=record["epoch_time_s"])
            results[arm].append(row)
    summary = {
        "coherence": coherence,
        "epochs": epochs,
        "knn_val_top1_by_coherence": tried,
        "settings": vars(args),
        "arms": results,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(summary, f, indent=1)
    seed = args.seeds[0]
    attentive = {
        f"{arm} (seed {seed})": os.path.join(args.out, f"seed{seed}-attentive-{ARMS[arm][0]}")
        for arm in args.arms
        if ARMS[arm][1] == "attentive"
    }
    if attentive:
        picture = draw_attention(attentive, common, os.path.join(args.out, "attention.png"))
        print(f"where the attentive probes look: {picture}", flush=True)
    print(f"\nfrozen probes on the demo (coherence {coherence:g}, {args.train_per_class} labeled per class, "
          f"{epochs} epochs, {len(args.seeds)} seeds; test split, head chosen on the validation split):"
          )  # fmt: skip
    for arm, rows in results.items():
        tops = [r["test_top1"] for r in rows]
        times = [r["epoch_time_s"] for r in rows]
        spread = statistics.stdev(tops) if len(tops) > 1 else 0.0
        each = ", ".join(f"{t:.1f}" for t in tops)
        print(f"  {arm:<26} test top-1 {statistics.mean(tops):5.1f} +- {spread:4.1f}  ({each})"
              f"  {statistics.mean(times):.1f} s per probe epoch")  # fmt: skip
    return summary
