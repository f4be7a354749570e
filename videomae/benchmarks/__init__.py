"""Benchmarks behind `scripts/benchmark.py`: `model` (the training step) and `data` (the loader)."""
