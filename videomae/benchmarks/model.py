"""Time the pre-training step (forward, backward, AdamW) and compare with transformers.

    python scripts/benchmark.py model --model vit_small --frames 16 --size 224 --batch 4 --compare-hf

Both models get the same weights, videos, masks and optimizer; their steps are interleaved so
that machine noise hits both alike. Reports the median clips/s, peak memory, and model FLOP
utilisation (the step's FLOPs over a matrix-multiply rate measured on the same device).
"""

import argparse
import contextlib
import json
import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from videomae.checkpoints.hf_twin import hf_pretrain_twin
from videomae.models import create_pretrain_model
from videomae.models.masking import MaskGenerator
from videomae.perf.peak import DTYPES, measured_rate
from videomae.training.optim import build_adamw, param_group_names, param_groups


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benchmark.py model", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vit_small")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--mask-ratio", type=float, default=0.9)
    p.add_argument("--decoder-ratio", type=float, default=0.0, help="VideoMAE V2 decoder masking")
    p.add_argument("--precision", choices=list(DTYPES), default="fp32", help="autocast dtype")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=8, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile our model")
    p.add_argument("--compare-hf", action="store_true", help="also time transformers' model")
    p.add_argument("--json", help="write the results to this file")
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Runner:
    """One model + optimizer, stepping on fixed inputs."""

    def __init__(self, name, model, step_fn, args, device):
        self.name, self.model, self.step_fn = name, model, step_fn
        groups = param_groups(model, param_group_names(model, 0.05))
        self.optimizer = build_adamw(groups, 1e-4, (0.9, 0.95), fused=device.type in ("cuda", "cpu"))
        self.autocast = (
            torch.autocast(device.type, dtype=DTYPES[args.precision])
            if args.precision != "fp32"
            else contextlib.nullcontext()
        )
        self.device = device
        self.times: list[float] = []

    def step(self, videos, masks, timed: bool) -> float:
        sync(self.device)
        start = time.perf_counter()
        with self.autocast:
            loss = self.step_fn(self.model, videos, masks)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        sync(self.device)
        if timed:
            self.times.append(time.perf_counter() - start)
        return float(loss.detach())


def hf_model(ours, args, device):
    return hf_pretrain_twin(ours, args.frames, args.size).to(device)


def ours_step(model, videos, masks):
    return model(videos, masks[0], masks[1])[0] if masks[1] is not None else model(videos, masks[0])[0]


def hf_step(model, videos, masks):
    return model(videos.transpose(1, 2), bool_masked_pos=masks[0]).loss


def step_flops(runner: Runner, videos, masks) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        with runner.autocast:
            loss = runner.step_fn(runner.model, videos, masks)
        loss.backward()
    runner.model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (CUDA, peak allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process peak RSS)"


def time_interleaved(runners: list, videos, masks, warmup: int, steps: int) -> dict[str, float]:
    """Warm-up, then `steps` timed steps of every runner in turn (so that the machine's noise
    falls on all of them alike); returns each runner's first-step loss."""
    first_losses = {r.name: r.step(videos, masks, timed=False) for r in runners}
    for _ in range(warmup - 1):
        for r in runners:
            r.step(videos, masks, timed=False)
    for _ in range(steps):
        for r in runners:
            r.step(videos, masks, timed=True)
    return first_losses


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    ours = create_pretrain_model(args.model, num_frames=args.frames, img_size=args.size).to(device)
    gen = MaskGenerator("tube", args.mask_ratio, ours.grid, decoder_ratio=args.decoder_ratio)
    videos = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    masks = gen.draw(args.batch, device)
    runners = []
    if args.compare_hf:
        runners.append(Runner("transformers", hf_model(ours, args, device), hf_step, args, device))
    model = torch.compile(ours) if args.compile else ours
    runners.insert(0, Runner("videomae", model, ours_step, args, device))

    flops = {r.name: step_flops(r, videos, masks) for r in runners}
    first_losses = time_interleaved(runners, videos, masks, args.warmup, args.steps)
    # the denominator of FLOP utilisation: the same measured rate as a run's perf/mfu falls back to
    rate = measured_rate(
        device.type, device.index, args.precision, size=8192 if device.type == "cuda" else 2048
    )

    results = {
        "config": vars(args),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "step_tflop": flops["videomae"] / 1e12,
        "matmul_tflops": rate / 1e12,
        "peak_memory": peak_memory(device),
    }
    print(
        f"{args.model} {args.frames}x{args.size}x{args.size} batch {args.batch} mask {args.mask_ratio}"
        f" decoder_ratio {args.decoder_ratio} {args.precision} on {results['device']}"
        f" ({results['threads']} threads); matmul {rate / 1e12:.2f} TFLOP/s"
    )
    for r in runners:
        median = statistics.median(r.times)
        clips = args.batch / median
        results[r.name] = {
            "clips_per_sec": clips,
            "step_ms": median * 1e3,
            "step_tflop": flops[r.name] / 1e12,
            "mfu": flops[r.name] / median / rate,
            "first_loss": first_losses[r.name],
        }
        print(
            f"  {r.name:13s} {clips:8.2f} clips/s  step {median * 1e3:8.1f} ms  "
            f"{flops[r.name] / 1e12:.3f} TFLOP  MFU {flops[r.name] / median / rate:6.1%}  "
            f"loss {first_losses[r.name]:.6f}"
        )
    print(f"  peak memory {results['peak_memory']}")
    if args.compare_hf:
        ratio = results["videomae"]["clips_per_sec"] / results["transformers"]["clips_per_sec"]
        results["ratio_vs_transformers"] = ratio
        print(f"  videomae / transformers: {ratio:.2f}x clips/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results
