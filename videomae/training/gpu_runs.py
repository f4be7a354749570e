"""The GPU check's Lightning parts: (b) real Lightning steps, (c) FSDP as a one-process group
(videomae.training.gpu_check)."""

import time

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from videomae.models.layers import Block
from videomae.training.gpu_common import (
    OPTIM,
    Check,
    Losses,
    RandomClips,
    Sizes,
    make_module,
    make_trainer,
    peak_gb,
    reset_peak,
)
from videomae.training.strategies import BlockFSDPStrategy
from videomae.training.timing import StepTiming
from videomae.training.verdict import RunSettings


def lightning(check: Check) -> dict:

    sizes, out = check.sizes, {}
    for kind in ("pretrain", "finetune"):
        batch = sizes.lightning_batch
        data = torch.utils.data.DataLoader(
            RandomClips(sizes, batch * sizes.lightning_steps), batch_size=batch, num_workers=2,
            shuffle=True, drop_last=True, pin_memory=check.device.type == "cuda",
        )  # fmt: skip
        timing, losses = StepTiming(RunSettings(pretrain=kind == "pretrain", compile=False)), Losses()
        torch.manual_seed(0)
        module = make_module(kind, sizes, batch)
        reset_peak(check.device)
        start = time.perf_counter()
        make_trainer(check, sizes.lightning_steps, [timing, losses]).fit(module, train_dataloaders=data)
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
        module = make_module("pretrain", tiny, 2, strong)
        data = torch.utils.data.DataLoader(RandomClips(tiny, 6), batch_size=2)
        record = Losses()
        make_trainer(check, 3, [record], strategy=strategy, precision="32-true").fit(
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
