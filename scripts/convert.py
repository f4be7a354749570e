"""Convert a VideoMAE checkpoint between layouts; the source layout is detected.

python scripts/convert.py SRC DST --to hf|original|ours [--task classification --set num_classes=101]
    [--overwrite]
python scripts/convert.py SRC out.onnx --to onnx [--task classification|features]

SRC: our run directory (its checkpoints/last.ckpt), Lightning checkpoint or exported weights, an
original MCG-NJU .pth (pre-train or fine-tuned), or a Hugging Face model directory / .safetensors / .bin.
DST: a directory for --to hf (config.json, model.safetensors, preprocessor_config.json and a README.md
model card written from the run's config and evaluation); a file for original (.pth) and
ours (.safetensors). `--set KEY=VALUE` overrides a model argument (values are JSON, e.g.
num_frames=8, img_size=[160,224], num_heads=12 for original files whose head count is not a paper size).

--to onnx: ONNX opset 18, dynamic batch size, input `videos` float32 (B, 3, T, H, W) normalised;
classification (a fine-tuned checkpoint: logits) or features (any checkpoint: the pooled feature
and the tokens). The file is then run by onnxruntime in a separate process and compared with
PyTorch (tolerance 1e-4 + 1e-3 x |value|). The pre-training model is refused (masking is
data-dependent): use --task features for its encoder.

Nothing is lost: a DST that is SRC (or holds it, or lies inside it) is refused, an existing DST is
replaced only with --overwrite, and DST is written atomically (a temporary file or directory
next to it, renamed into place once complete), so an interrupted convert leaves DST as it was.
"""

import argparse
import json
import os
import sys

from videomae.checkpoints import (
    describe_model,
    export_hf,
    export_original,
    export_ours,
    model_from_checkpoint,
)
from videomae.checkpoints.hub import training_record
from videomae.checkpoints.onnx import ATOL, RTOL, check_onnx, export_onnx
from videomae.checkpoints.run_dir import run_checkpoint
from videomae.utils.atomic_files import atomic_directory
from videomae.utils.errors import CheckpointError, ConfigError, DiskFullError

EXPORTS = {"hf": export_hf, "original": export_original, "ours": export_ours}


def check_destination(src: str, dst: str, overwrite: bool) -> None:
    """Refuse a DST that would destroy SRC, and an existing DST without --overwrite."""
    src_real, dst_real = os.path.realpath(src), os.path.realpath(dst)
    inside = src_real.startswith(dst_real + os.sep) or dst_real.startswith(src_real + os.sep)
    if src_real == dst_real or inside:
        raise CheckpointError(
            f"{dst}: the destination {'is' if src_real == dst_real else 'overlaps'} the source {src}; "
            "write the converted checkpoint somewhere else"
        )
    if os.path.lexists(dst) and not overwrite:
        raise CheckpointError(f"{dst} exists; pass --overwrite to replace it (or choose another DST)")


def write_atomically(export, model, dst: str, **kwargs) -> str:
    """`export(model, DST)` such that DST is either untouched or complete. A file export is
    already atomic; a directory (--to hf) is written next to DST and swapped in."""
    if export is not export_hf:
        return str(export(model, dst, **kwargs))
    with atomic_directory(dst) as tmp:
        export(model, tmp, **kwargs)
    return os.path.abspath(dst)


def parse_set(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set {item}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--to", required=True, choices=sorted([*EXPORTS, "onnx"]))
    parser.add_argument(
        "--task", choices=["pretrain", "classification", "features"], help="default: the checkpoint's"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model argument")
    parser.add_argument("--non-strict", action="store_true", help="report missing keys, load the rest")
    parser.add_argument("--license", help="hf: the model card's license field (default: other)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    args = parser.parse_args(argv)
    overrides = parse_set(args.set)
    if args.task and args.task != "features":
        overrides["task"] = args.task
    src = run_checkpoint(args.src)  # a run directory: its last checkpoint
    if args.to == "onnx":
        return to_onnx(args, src, overrides)
    if args.task == "features":
        print("error: --task features: only with --to onnx", file=sys.stderr)
        return 2
    try:
        check_destination(args.src, args.dst, args.overwrite)
        model, report = model_from_checkpoint(src, strict=not args.non_strict, **overrides)
        labels = report.labels if args.to != "original" else None
        extra = {"labels": labels} if labels else {}
        if args.to == "hf":  # the model card: what the run recorded about its data, recipe and scores
            extra.update(record=training_record(src, describe_model(model)["task"]), license=args.license)
        out = write_atomically(EXPORTS[args.to], model, args.dst, **extra)
    except (CheckpointError, DiskFullError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    spec = describe_model(model)
    k = spec["kwargs"]
    params = sum(p.numel() for p in model.parameters())
    print(report.summary())
    print(
        f"model:      {spec['task']}, {k['embed_dim']} wide x {k['depth']} blocks, {k['num_heads']} heads, "
        f"patch {k['patch_size']}, tubelet {k['tubelet_size']}, "
        f"{k['num_frames']} frames at {k['img_size']} px, "
        f"{params / 1e6:.1f}M parameters" + (f", {k['num_classes']} classes" if "num_classes" in k else "")
    )
    files = sorted(os.listdir(out)) if os.path.isdir(out) else [os.path.basename(out)]
    print(f"wrote:      {out} ({args.to}: {', '.join(files)})")
    if args.to == "hf":
        print(
            "note: transformers computes decoder.norm/fc_norm with LayerNorm eps 1e-5 (fixed in its code); "
            "the original uses 1e-6, so outputs there differ slightly"
        )
    return 0


def to_onnx(args, src: str, overrides: dict) -> int:
    try:
        check_destination(args.src, args.dst, args.overwrite)
        model, report = model_from_checkpoint(src, strict=not args.non_strict, **overrides)
        info = export_onnx(model.eval(), args.dst, args.task)
        worst = check_onnx(args.dst, model, info["task"])
    except (CheckpointError, ConfigError, DiskFullError, ValueError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    print(
        f"wrote:      {args.dst} (onnx, opset {info['opset']}, {info['task']}: videos {info['input']} -> "
        f"{', '.join(info['outputs'])}; dynamic batch)"
    )
    print(
        f"checked:    onnxruntime (CPU, a separate process) vs PyTorch at batch 1 and 3: max |diff| "
        f"{worst:.2e} (tolerance {ATOL:g} + {RTOL:g} x |value|)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
