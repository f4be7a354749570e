"""Benchmarks: `python scripts/benchmark.py model --help`, `... data --help`, `... overhead --help`,
`... onnx --help` (PyTorch and onnxruntime side by side)."""

import importlib
import sys

COMMANDS = {
    "model": "videomae.benchmarks.model",
    "data": "videomae.benchmarks.data",
    "overhead": "videomae.training.timing_overhead",
    "onnx": "videomae.benchmarks.onnx",
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(COMMANDS)}}} [options]")
    importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])
