"""The GPU check behind `scripts/gpu_check.sh OUT`: what a lent GPU machine should measure, in one
call of at most 8 minutes.

    python -m videomae.perf.gpu_check OUT            # on a CUDA machine
    python -m videomae.perf.gpu_check OUT --dry-run  # every size shrunk: on a CPU, in under 2 min

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
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch

from videomae.masking import MaskGenerator
from videomae.models import create_pretrain_model
from videomae.perf.flops import pretrain_flops
from videomae.perf.peak import peak_flops

GB = 1e9


@dataclass
class Sizes:
    """What the check runs at; `dry()` shrinks every size for a CPU."""

    model: dict = field(default_factory=lambda: {"name": "vit_base"})
    frames: int = 16
    size: int = 224
    max_batch: int = 64
    warmup: int = 3
    steps: int = 10
    lightning_steps: int = 20
    lightning_batch: int = 16
    big_models: tuple = ("vit_large", "vit_huge")
    memory_batches: tuple = (4, 8)
    compile_backend: str = "inductor"
    budget_s: float = 450.0

    @classmethod
    def dry(cls) -> "Sizes":
        tiny = {"name": "vit_tiny", "embed_dim": 32, "depth": 1, "num_heads": 2}
        tiny |= {"decoder_embed_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2}
        return cls(
            model=tiny, frames=4, size=32, max_batch=4, warmup=1, steps=2, lightning_steps=3,
            lightning_batch=2, big_models=("vit_large", "vit_huge"), memory_batches=(1, 2),
            compile_backend="aot_eager", budget_s=100.0,
        )  # fmt: skip

    def model_kwargs(self, name: str | None = None) -> dict:
        model = dict(self.model)
        if name is not None and model["name"] != "vit_tiny":
            model = {"name": name}
        elif name is not None:  # dry run: the big models' names, the tiny model's sizes
            model = dict(self.model)
        return {**model, "num_frames": self.frames, "img_size": self.size}


class Check:
    """The results so far, written out after every part."""

    def __init__(self, out: str, sizes: Sizes, device: torch.device, dry_run: bool):
        self.out, self.sizes, self.device = out, sizes, device
        self.started = time.perf_counter()
        self.results: dict = {
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or "cpu",
            "dry_run": dry_run,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "sizes": asdict(sizes),
            "parts": {},
        }

    def left(self) -> float:
        return self.sizes.budget_s - (time.perf_counter() - self.started)

    def run(self, name: str, part) -> None:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        if self.left() <= 0:
            entry: dict = {"status": "not run", "error": "out of the time budget"}
        else:
            try:
                entry = {"status": "ok", **part(self)}
            except Exception as err:  # recorded; the next part runs regardless
                traceback.print_exc()
                first = (str(err).splitlines() or [""])[0][:300]
                entry = {"status": "failed", "error": f"{type(err).__name__}: {first}"}
            finally:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - start, 1)
        self.results["parts"][name] = entry
        print(json.dumps(entry, default=str), flush=True)
        self.write()

    def write(self) -> None:
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, "gpu_check.json"), "w", encoding="utf-8") as f:
            json.dump(self.results, f, indent=2, default=str)
        with open(os.path.join(self.out, "gpu_check.md"), "w", encoding="utf-8") as f:
            f.write(markdown(self.results))


# --- helpers ----------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


def clips(batch: int, sizes: Sizes, device: torch.device) -> torch.Tensor:
    return torch.randn(batch, 3, sizes.frames, sizes.size, sizes.size, device=device)


def optimizer(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)


# --- (a) throughput -----------------------------------------------------------------------------------


def _timed_steps(step, sizes: Sizes, device: torch.device) -> tuple[float, float]:
    """(median seconds per step, first loss) after warm-up."""
    loss = step()
    for _ in range(sizes.warmup - 1):
        step()
    times = []
    for _ in range(sizes.steps):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), loss


def _variant(check: Check, kind: str, batch: int) -> dict:
    """One variant's steps at `batch`: ours (eager, compiled, dual masking) or transformers'."""
    sizes, device = check.sizes, check.device
    torch.manual_seed(0)
    model = create_pretrain_model(**check.sizes.model_kwargs()).to(device)
    decoder_ratio = 0.5 if kind == "dual masking 0.5" else 0.0
    masks = MaskGenerator("tube", 0.9, model.grid, decoder_ratio)
    flops = pretrain_flops(model, masks.num_masked, masks.num_decoded).train
    videos = clips(batch, sizes, device)
    mask, targets = masks.draw(batch, device)
    if kind == "transformers":
        from videomae.benchmarks.model import hf_model

        args = argparse.Namespace(size=sizes.size, frames=sizes.frames)
        net = hf_model(model, args, device)
        del model

        def forward():
            return net(videos.transpose(1, 2), bool_masked_pos=mask).loss
    else:
        net = model
        if kind == "compiled":
            net = torch.compile(model, backend=sizes.compile_backend)

        def forward():
            return net(videos, mask, targets)[0]

    opt = optimizer(net, device)

    def step() -> float:
        with autocast(device):
            loss = forward()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    reset_peak(device)
    seconds, loss = _timed_steps(step, sizes, device)
    peak, source = peak_flops(device, "bf16-mixed")
    return {
        "batch": batch,
        "clips_per_s": round(batch / seconds, 2),
        "step_ms": round(seconds * 1e3, 2),
        "mfu": round(flops * batch / seconds / peak, 4),
        "train_gflop_per_clip": round(flops / 1e9, 3),
        "peak_memory_gb": peak_gb(device),
        "first_loss": loss,
        "peak_source": source,
    }


def _largest_batch(check: Check, kind: str) -> dict:
    batch = check.sizes.max_batch
    while True:
        try:
            return _variant(check, kind, batch)
        except Exception as err:
            if not is_oom(err) or batch == 1:
                raise
            if check.device.type == "cuda":
                torch.cuda.empty_cache()
            batch //= 2


def throughput(check: Check) -> dict:
    out: dict = {}
    for kind in ("eager", "compiled", "dual masking 0.5", "transformers"):
        if check.left() <= 0:
            out[kind] = {"status": "not run", "error": "out of the time budget"}
            continue
        try:
            out[kind] = _largest_batch(check, kind)
        except Exception as err:
            traceback.print_exc()
            out[kind] = {"status": "failed", "error": f"{type(err).__name__}: {str(err)[:300]}"}
        print(f"   {kind}: {out[kind]}", flush=True)
    return out


# --- (b) Lightning steps ------------------------------------------------------------------------------


class RandomClips(torch.utils.data.Dataset):
    """uint8 clips (C, T, H, W) and labels: what the video loaders give, without decoding."""

    def __init__(self, sizes: Sizes, length: int, classes: int = 10):
        generator = torch.Generator().manual_seed(0)
        shape = (8, 3, sizes.frames, sizes.size, sizes.size)
        self.bank = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        self.length, self.classes = length, classes

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"video": self.bank[index % len(self.bank)], "label": index % self.classes}


class Losses(pl.Callback):
    """Each training step's loss."""

    def __init__(self):
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.values.append(float(loss.detach()))


OPTIM = {"base_lr": 1.5e-4, "min_lr": 1e-5, "warmup_lr": 0.0, "warmup_epochs": 0, "warmup_steps": 2,
         "weight_decay": 0.05, "betas": [0.9, 0.95]}  # fmt: skip


def _module(kind: str, sizes: Sizes, batch: int, optim: dict | None = None):
    model = {k: v for k, v in sizes.model_kwargs().items()}
    optim = {**(optim or OPTIM), "batch_per_device": batch}
    if kind == "pretrain":
        from videomae.training.pretrain_module import PretrainModule

        return PretrainModule(model=model, mask={"type": "tube", "ratio": 0.9}, optim=optim)
    from videomae.training.finetune_module import FinetuneModule

    optim["layer_decay"] = 0.75
    return FinetuneModule(model=model, num_classes=10, optim=optim, mixup={"mixup_alpha": 0.8,
                          "cutmix_alpha": 1.0, "label_smoothing": 0.1})  # fmt: skip


def _trainer(check: Check, steps: int, callbacks: list, strategy="auto", precision="bf16-mixed"):
    return pl.Trainer(
        accelerator=check.device.type if check.device.type == "cuda" else "cpu",
        devices=1,
        strategy=strategy,
        precision=precision,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=max(steps // 4, 1),
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=callbacks,
        use_distributed_sampler=False,  # one process: the same batches for every strategy
        default_root_dir=os.path.join(check.out, "lightning"),
    )


def lightning(check: Check) -> dict:
    from videomae.training.timing import StepTiming
    from videomae.training.verdict import RunSettings

    sizes, out = check.sizes, {}
    for kind in ("pretrain", "finetune"):
        batch = sizes.lightning_batch
        data = torch.utils.data.DataLoader(
            RandomClips(sizes, batch * sizes.lightning_steps), batch_size=batch, num_workers=2,
            shuffle=True, drop_last=True, pin_memory=check.device.type == "cuda",
        )  # fmt: skip
        timing, losses = StepTiming(RunSettings(pretrain=kind == "pretrain", compile=False)), Losses()
        torch.manual_seed(0)
        module = _module(kind, sizes, batch)
        reset_peak(check.device)
        start = time.perf_counter()
        _trainer(check, sizes.lightning_steps, [timing, losses]).fit(module, train_dataloaders=data)
        out[kind] = {
            "batch": batch,
            "steps": len(losses.values),
            "seconds": round(time.perf_counter() - start, 2),
            "losses_finite": all(v == v and abs(v) != float("inf") for v in losses.values),
            "first_loss": losses.values[0] if losses.values else None,
            "last_loss": losses.values[-1] if losses.values else None,
            "peak_memory_gb": peak_gb(check.device),
            **timing.timing_results(),
        }
        if not out[kind]["losses_finite"] or out[kind]["steps"] != sizes.lightning_steps:
            raise RuntimeError(f"{kind}: {out[kind]}")
    return out


# --- (c) FSDP as a one-process group -----------------------------------------------------------------


def fsdp(check: Check) -> dict:
    """The plain path and BlockFSDPStrategy, same seed, same batches: the same loss per step
    (tests/training/test_distributed.py::test_fsdp_gives_the_loss_of_the_plain_path)."""
    import torch.distributed as dist

    from videomae.models.layers import Block
    from videomae.training.strategies import BlockFSDPStrategy

    tiny = Sizes.dry()
    tiny.frames, tiny.size = 4, 32
    strong = {**OPTIM, "base_lr": 0.64, "min_lr": 0.64, "warmup_steps": 0, "weight_decay": 0.5}
    losses = {}
    for name in ("auto", "fsdp"):
        strategy = (
            BlockFSDPStrategy(auto_wrap_policy={Block}, sharding_strategy="FULL_SHARD", use_orig_params=True)
            if name == "fsdp"
            else "auto"
        )
        pl.seed_everything(0, verbose=False)
        module = _module("pretrain", tiny, 2, strong)
        data = torch.utils.data.DataLoader(RandomClips(tiny, 6), batch_size=2)
        record = Losses()
        _trainer(check, 3, [record], strategy=strategy, precision="32-true").fit(
            module, train_dataloaders=data
        )
        losses[name] = record.values
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    worst = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses["fsdp"], losses["auto"], strict=True))
    result = {"losses": losses, "max_relative_difference": worst, "same_loss": worst <= 1e-4}
    if not result["same_loss"]:
        raise RuntimeError(f"FSDP and the plain path differ: {losses}")
    return result


# --- (d) activation checkpointing ------------------------------------------------------------------


def checkpointing(check: Check) -> dict:
    sizes, device = check.sizes, check.device
    torch.manual_seed(0)
    model = create_pretrain_model(**sizes.model_kwargs()).to(device)
    masks = MaskGenerator("tube", 0.9, model.grid)
    batch = min(sizes.max_batch, 32)
    videos = clips(batch, sizes, device)
    mask, _ = masks.draw(batch, device)
    out: dict = {}
    grads = {}
    for on in (False, True):
        model.set_grad_checkpointing(on)
        model.zero_grad(set_to_none=True)
        sync(device)
        reset_peak(device)
        with autocast(device):
            loss, _ = model(videos, mask)
        loss.backward()
        sync(device)
        key = "on" if on else "off"
        out[key] = {"loss": float(loss.detach()), "peak_memory_gb": peak_gb(device)}
        first: Any = model.encoder.blocks[0]
        grad = first.attn.qkv.weight.grad
        assert grad is not None
        grads[key] = grad.float().clone()
    out["batch"] = batch
    out["same_loss"] = out["on"]["loss"] == out["off"]["loss"]
    out["grad_max_abs_difference"] = float((grads["on"] - grads["off"]).abs().max())
    if not out["same_loss"]:
        raise RuntimeError(f"activation checkpointing changed the loss: {out}")
    return out


# --- (e) memory per clip -----------------------------------------------------------------------------


def memory(check: Check) -> dict:
    sizes, device = check.sizes, check.device
    out = {}
    for name in sizes.big_models:
        torch.manual_seed(0)
        model = create_pretrain_model(**sizes.model_kwargs(name)).to(device)
        masks = MaskGenerator("tube", 0.9, model.grid)
        opt = optimizer(model, device)
        peaks: dict[int, float | None] = {}
        for i, batch in enumerate((sizes.memory_batches[0], *sizes.memory_batches)):
            videos = clips(batch, sizes, device)
            mask, _ = masks.draw(batch, device)
            reset_peak(device)
            with autocast(device):
                loss, _ = model(videos, mask)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync(device)
            if i:  # the first step only allocates the optimizer's state
                peaks[batch] = peak_gb(device)
        b1, b2 = sizes.memory_batches
        entry: dict = {"peak_memory_gb": peaks}
        m1, m2 = peaks[b1], peaks[b2]
        if m1 is not None and m2 is not None:
            per_clip = (m2 - m1) / (b2 - b1)
            fixed = m1 - b1 * per_clip
            entry |= {"gb_per_clip": round(per_clip, 3), "fixed_gb": round(fixed, 3)}
            entry |= {f"largest_batch_{c}gb": int((c - fixed) // per_clip) for c in (80, 141)}
        out[name] = entry
        del model, opt
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


PARTS = {
    "throughput": throughput,
    "lightning": lightning,
    "fsdp": fsdp,
    "checkpointing": checkpointing,
    "memory": memory,
}


# --- report -------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(results: dict) -> str:
    lines = [
        f"# GPU check: {results['device']}" + (" (dry run)" if results["dry_run"] else ""),
        "",
        f"{results['date']}; torch {results['torch']}, CUDA {results['cuda']}",
        "",
        "| part | what | value |",
        "|---|---|---|",
    ]
    for part, entry in results["parts"].items():
        if entry.get("status") != "ok":
            lines.append(f"| {part} | {entry.get('status')} | {entry.get('error', '')} |")
            continue
        for key, value in entry.items():
            if key in ("status",):
                continue
            if isinstance(value, dict):
                text = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if not isinstance(v, list))
                lines.append(f"| {part} | {key} | {text} |")
            else:
                lines.append(f"| {part} | {key} | {_fmt(value)} |")
    return "\n".join(lines) + "\n"


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
