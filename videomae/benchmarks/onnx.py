"""PyTorch and onnxruntime side by side on CPU: the same model, inputs and batch sizes, timed in
alternation (median of `--steps` calls after `--warmup`).

python scripts/benchmark.py onnx CHECKPOINT [--onnx model.onnx] [--task classification|features]
    [--batch 1 8] [--threads N]
Without --onnx the checkpoint is exported to a temporary file first (scripts/convert.py --to onnx).
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch

from videomae.checkpoints import model_from_checkpoint
from videomae.checkpoints.onnx import check_onnx, export_onnx, exportable
from videomae.checkpoints.run_dir import run_checkpoint


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--onnx", default=None, help="an exported file of this checkpoint (default: export now)")
    p.add_argument("--task", default=None, choices=["classification", "features"])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for both (default: torch's)")
    return p.parse_args(argv)


def time_pair(run_torch, run_ort, warmup: int, steps: int) -> tuple[float, float]:
    for _ in range(warmup):
        run_torch()
        run_ort()
    t_torch, t_ort = [], []
    for _ in range(steps):
        start = time.perf_counter()
        run_torch()
        t_torch.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_ort()
        t_ort.append(time.perf_counter() - start)
    return statistics.median(t_torch), statistics.median(t_ort)


def main(argv=None) -> dict:
    import onnxruntime as ort  # optional: the dev extra

    args = parse_args(argv)
    model, _ = model_from_checkpoint(run_checkpoint(args.checkpoint))
    model.eval()
    module, task, _ = exportable(model, args.task)
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or os.path.join(tmp, "model.onnx")
        if args.onnx is None:
            export_onnx(model, path, task)
        worst = check_onnx(path, model, task)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        t, h, w = model.grid
        enc = model.encoder
        rows = {}
        print(f"{task}, {threads} threads, CPU; onnxruntime {ort.__version__}, torch {torch.__version__}; "
              f"max |onnx - torch| {worst:.1e}")  # fmt: skip
        print(f"{'batch':>5}  {'torch ms':>9}  {'onnxruntime ms':>14}  {'torch / onnxruntime':>19}")
        for batch in args.batch:
            x = torch.randn(batch, 3, t * enc.tubelet_size, h * enc.patch_size, w * enc.patch_size)
            feed = {"videos": x.numpy().astype(np.float32)}
            with torch.no_grad():
                a, b = time_pair(
                    lambda x=x: module(x), lambda feed=feed: session.run(None, feed), args.warmup, args.steps
                )
            rows[batch] = {"torch_ms": 1000 * a, "onnxruntime_ms": 1000 * b, "ratio": a / b}
            print(f"{batch:>5}  {1000 * a:>9.1f}  {1000 * b:>14.1f}  {a / b:>19.2f}")
    return {"task": task, "threads": threads, "max_abs_diff": worst, "rows": rows}
