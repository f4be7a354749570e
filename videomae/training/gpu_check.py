"""The GPU check behind `scripts/gpu_check.sh OUT`: what a lent GPU machine should measure, in one
call of at most 8 minutes.

    python -m videomae.training.gpu_check OUT            # on a CUDA machine
    python -m videomae.training.gpu_check OUT --dry-run  # every size shrunk: on a CPU, in under 2 min

Parts (each runs whatever happens to the others; a failure is recorded with its error):

- throughput: vit_base 16x224x224, mask 0.9, bf16 pre-training steps (forward, backward, AdamW)
  at the largest batch up to 64 that fits: clips/s, MFU, peak memory; ours eager, compiled, with
  dual masking 0.5, and transformers' VideoMAEForPreTraining with the same weights.
- lightning: 20 real Lightning steps with bf16-mixed, pre-training and fine-tuning, with the
  step timing callback (data wait, MFU, verdict).
- fsdp: tests/training/test_distributed.py's GPU test (BlockFSDPStrategy against the plain
  path, same loss per step) as a one-process group.
- checkpointing: activation checkpointing off and on: the same loss, peak memory of each.
- memory: peak memory per clip of vit_large and vit_huge pre-training steps, and the largest
  batch that fits in 80 and 141 GB.

Needs torch, Lightning, timm and transformers only (no Hydra, OmegaConf, decord, PyAV or wandb:
the clips are random tensors). Writes OUT/gpu_check.json and OUT/gpu_check.md after every part,
so a run cut short keeps what it measured.
"""

import argparse
import contextlib
import sys

import torch

from videomae.training.gpu_common import Check, Sizes
from videomae.training.gpu_parts import checkpointing, memory, throughput
from videomae.training.gpu_runs import fsdp, lightning

PARTS = {
    "throughput": throughput,
    "lightning": lightning,
    "fsdp": fsdp,
    "checkpointing": checkpointing,
    "memory": memory,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="directory for gpu_check.json and gpu_check.md")
    parser.add_argument("--dry-run", action="store_true", help="every size shrunk: a CPU run in < 2 min")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated from {', '.join(PARTS)}")
    parser.add_argument("--budget-s", type=float, help="start no part after this many seconds")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: {', '.join(unknown)} not among {', '.join(PARTS)}")
    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        parser.error("no CUDA device here: run with --dry-run to check the script on this CPU")
    sizes = Sizes.dry() if args.dry_run else Sizes()
    if args.budget_s is not None:
        sizes.budget_s = args.budget_s
    device = torch.device("cuda" if cuda and not args.dry_run else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    check = Check(args.out, sizes, device, args.dry_run)
    for name in parts:
        check.run(name, PARTS[name])
    failed = [n for n, e in check.results["parts"].items() if e["status"] != "ok"]
    not_ok = f", not: {', '.join(failed)}" if failed else ""
    print(
        f"wrote {args.out}/gpu_check.json, .md; {len(parts) - len(failed)} of {len(parts)} parts ok{not_ok}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
