#!/usr/bin/env bash
# The GPU check (videomae.training.gpu_check.py): what a lent GPU machine measures, in one call of at
# most 8 minutes; a part that fails is recorded and the others still run.
#
#   scripts/gpu_check.sh OUT             # on a CUDA machine: OUT/gpu_check.json, gpu_check.md, .log
#   scripts/gpu_check.sh OUT --dry-run   # every size shrunk, on a CPU, in under 2 minutes
#
# Needs torch, pytorch_lightning, timm and transformers; not Hydra, OmegaConf, decord, PyAV, wandb.
set -u
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 OUT [--dry-run] [--parts throughput,lightning,fsdp,checkpointing,memory]" >&2
    exit 2
fi
OUT=$1
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The Python side stops starting parts after 450 s (--budget-s); this is the hard stop at 8 min.
timeout --kill-after=10 470 "${PYTHON:-python3}" -m videomae.training.gpu_check "$OUT" "$@" 2>&1 \
    | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
