"""A device's peak FLOP/s for the precision in use: the `perf.peak_tflops` override, else a table
of known devices, else a measured dense matmul rate (CPUs, unknown GPUs).

Table values are the vendors' dense (no sparsity) tensor-core figures for bf16/fp16 and the
plain (non-tensor-core) fp32 rate, since fp32 training without TF32 runs on that; SXM parts
unless the name says PCIe. In TFLOP/s.
"""

import time
from functools import lru_cache

import torch

# (substring of torch.cuda.get_device_name, case-insensitive; the first match wins) -> peaks
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.4, "fp16": 989.4, "fp32": 66.9}),
    ("GH200", {"bf16": 989.4, "fp16": 989.4, "fp32": 66.9}),
    ("H100 PCIe", {"bf16": 756.5, "fp16": 756.5, "fp32": 51.2}),
    ("H100 NVL", {"bf16": 835.0, "fp16": 835.0, "fp32": 60.0}),
    ("H100", {"bf16": 989.4, "fp16": 989.4, "fp32": 66.9}),
    ("A100", {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5}),
    ("A800", {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5}),
    ("A10G", {"bf16": 70.0, "fp16": 70.0, "fp32": 35.0}),
    ("A10", {"bf16": 125.0, "fp16": 125.0, "fp32": 31.2}),
    ("L40S", {"bf16": 362.1, "fp16": 362.1, "fp32": 91.6}),
    ("L40", {"bf16": 181.0, "fp16": 181.0, "fp32": 90.5}),
    ("L4", {"bf16": 121.0, "fp16": 121.0, "fp32": 30.3}),
    ("RTX 4090", {"bf16": 165.2, "fp16": 165.2, "fp32": 82.6}),
    ("RTX 3090", {"bf16": 71.0, "fp16": 71.0, "fp32": 35.6}),
    ("RTX A6000", {"bf16": 154.8, "fp16": 154.8, "fp32": 38.7}),
    ("V100", {"fp16": 125.0, "fp32": 15.7}),  # no bf16 tensor cores
    ("T4", {"fp16": 65.0, "fp32": 8.1}),
]

# Lightning's trainer.precision -> the dtype the matmuls run in
PRECISIONS = {
    "bf16-mixed": "bf16", "bf16-true": "bf16", "bf16": "bf16",
    "16-mixed": "fp16", "16-true": "fp16", "16": "fp16",
    "32-true": "fp32", "32": "fp32", "64-true": "fp32", "64": "fp32",
}  # fmt: skip
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def precision_kind(precision) -> str:
    """bf16, fp16 or fp32 for a Lightning precision setting (None: fp32)."""
    return PRECISIONS.get(str(precision if precision is not None else "32"), "fp32")


def table_peak(device_name: str, kind: str) -> float | None:
    """The table's peak TFLOP/s for a device name and precision kind, None when unknown."""
    name = device_name.lower()
    for key, peaks in PEAK_TFLOPS:
        if key.lower() in name:
            return peaks.get(kind)
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@lru_cache(maxsize=8)
def measured_rate(device_type: str, index: int | None, kind: str, size: int | None = None) -> float:
    """The best dense matmul FLOP/s of a few tries on this device (noise only slows a matmul)."""
    device = torch.device(device_type, index) if index is not None else torch.device(device_type)
    dtype = DTYPES[kind] if device.type == "cuda" else torch.float32  # CPU autocast matmuls in fp32
    n = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    reps = 20 if device.type == "cuda" else 2
    best = 0.0
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


def remeasured_rate(device: torch.device, precision) -> float:
    """The matmul rate timed again: a machine that was busy the first time only made it slower."""
    measured_rate.cache_clear()
    return measured_rate(device.type, device.index, precision_kind(precision))


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def peak_flops(device: torch.device, precision, override_tflops: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s per device, where it came from: `perf.peak_tflops`, `table: NAME KIND` or
    `measured matmul KIND`)."""
    kind = precision_kind(precision)
    if override_tflops:
        return float(override_tflops) * 1e12, "perf.peak_tflops"
    name = device_name(device)
    if device.type == "cuda":
        peak = table_peak(name, kind)
        if peak is not None:
            return peak * 1e12, f"table: {name} {kind}"
    rate = measured_rate(device.type, device.index, kind)
    return rate, f"measured matmul {kind if device.type == 'cuda' else 'fp32'} on {name}"
