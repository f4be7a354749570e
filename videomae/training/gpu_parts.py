"""The GPU check's model parts, plain PyTorch: (a) throughput, (d) activation checkpointing,
(e) memory per clip (videomae.training.gpu_check)."""

import statistics
import time
import traceback
from typing import Any

import torch

from videomae.checkpoints.hf_twin import hf_pretrain_twin
from videomae.models import create_pretrain_model
from videomae.models.masking import MaskGenerator
from videomae.perf.flops import pretrain_flops
from videomae.perf.peak import peak_flops
from videomae.training.gpu_common import (
    Check,
    Sizes,
    autocast,
    clips,
    is_oom,
    optimizer,
    peak_gb,
    reset_peak,
    sync,
)

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
        net = hf_pretrain_twin(model, sizes.frames, sizes.size).to(device)
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
    """The variant at --max-batch, halved after each out-of-memory error."""
    batch, too_big = check.sizes.max_batch, list[int]()
    while True:
        try:
            return {**_variant(check, kind, batch), "out_of_memory_at": too_big}
        except Exception as err:
            if not is_oom(err) or batch == 1:
                raise
        # outside the except block: the failed step's tensors are freed with its traceback
        if check.device.type == "cuda":
            torch.cuda.empty_cache()
        too_big.append(batch)
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
