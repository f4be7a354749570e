"""AdamW with the paper's no-decay rule, learning-rate scaling and the per-step schedule."""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pytorch_lightning as pl
import torch
from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from videomae.utils.config_fields import Settings, setting


@dataclass(frozen=True, kw_only=True)
class OptimConfig(Settings):
    """`optim.*`: AdamW and its per-step schedule. The learning rates are per 256 videos and scale
    with the effective batch (`scaled_lr`); `batch_per_device` is data.batch_size (a run adds it)."""

    GROUP = "optim"
    base_lr: float = setting(low=0, low_open=True)  # the peak
    min_lr: float = setting(low=0)  # the cosine's end
    warmup_lr: float = setting(low=0)  # the warm-up's start
    warmup_epochs: float = setting(low=0)
    warmup_steps: int | None = setting(None, low=0)  # overrides warmup_epochs when set
    weight_decay: float = setting(low=0)  # none on biases, norms and tokens
    betas: list[float] = setting(low=0, high=1, high_open=True, length=2)
    layer_decay: float = setting(1.0, low=0, high=1, low_open=True)  # fine-tuning: lr x decay^depth
    batch_per_device: int | None = setting(None, low=1)

    @classmethod
    def of(cls, optim: "OptimConfig | Mapping") -> "OptimConfig":
        """A module's recorded `optim` hparams (a dict, also an old checkpoint's) as settings."""
        return optim if isinstance(optim, OptimConfig) else cls.from_dict(optim)


def scaled_lr(base_lr: float, effective_batch: int) -> float:
    """The original code's linear scaling rule: lr = base_lr x effective batch / 256, where the
    effective batch counts videos per optimizer step (repeated clips of one video do not count)."""
    return base_lr * effective_batch / 256


def param_group_names(model: nn.Module, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """timm's AdamW groups, holding parameter names: no weight decay for biases, norms (1-D
    parameters) and the model's `no_weight_decay()` tokens; with layer_decay < 1, an `lr_scale` per
    layer (from the model's `group_matcher`), which our scheduler applies at every step.

    Names, taken from the plain model, because FSDP turns every parameter into a 1-D shard, which
    timm's rule would exempt from weight decay.
    """
    # nn.Module.__getattr__ types any attribute as Tensor | Module; this one is a method (the models').
    skip = cast(Callable[[], set[str]], model.no_weight_decay)() if hasattr(model, "no_weight_decay") else ()
    if layer_decay < 1.0:
        groups = param_groups_layer_decay(model, weight_decay, skip, layer_decay=layer_decay)
    else:
        groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)
    names = {id(param): name for name, param in model.named_parameters()}
    return [{**group, "params": [names[id(p)] for p in group["params"]]} for group in groups]


def param_groups(model: nn.Module, group_names: list[dict]) -> list[dict]:
    """`param_group_names`' groups with the model's parameters, also once FSDP has wrapped its blocks
    (the parameters stay the same objects with use_orig_params=True; their names gain a segment)."""
    params = {name.replace("_fsdp_wrapped_module.", ""): p for name, p in model.named_parameters()}
    grouped = {name for group in group_names for name in group["params"]}
    left_out = sorted(name for name, p in params.items() if p.requires_grad and name not in grouped)
    if left_out:  # they would silently never be trained
        raise RuntimeError(f"trainable parameters in no optimizer group: {', '.join(left_out)}")
    return [{**group, "params": [params[name] for name in group["params"]]} for group in group_names]


def build_adamw(groups: list[dict], lr: float, betas, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over `param_groups`."""
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=fused)


def warmup_cosine_lr(
    step: int, peak: float, total_steps: int, warmup_steps: int, warmup_lr: float, min_lr: float
) -> float:
    """The original's per-step lr (MCG-NJU/VideoMAE utils.cosine_scheduler), before lr_scale.

    Warm-up: W evenly spaced values from `warmup_lr` to `peak`, both included, so the peak comes
    at step W - 1 (W = 1: the one warm-up step is at `warmup_lr`). Then, from step W, a cosine over
    the T - W remaining steps: min_lr + (peak - min_lr) (1 + cos(pi i / (T - W))) / 2 at i = step - W.
    Past the last step: `min_lr`.
    """
    if step < warmup_steps:
        if step == warmup_steps - 1 and step > 0:
            return peak  # the last warm-up value is the end point itself
        return step * ((peak - warmup_lr) / max(warmup_steps - 1, 1)) + warmup_lr  # linspace's arithmetic
    decay_steps = total_steps - warmup_steps
    if step >= total_steps or decay_steps <= 0:
        return min_lr
    return min_lr + 0.5 * (peak - min_lr) * (1 + math.cos(math.pi * (step - warmup_steps) / decay_steps))


class WarmupCosine(LRScheduler):
    """`warmup_cosine_lr` at every optimizer step, times each group's `lr_scale` (layer decay),
    as the original sets `param_group["lr"] = schedule[it] * lr_scale`. The peak is each group's
    initial `lr` before its scale (build_adamw's lr). Its state (the step) is saved in checkpoints."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_steps: int,
        warmup_lr: float,
        min_lr: float,
        last_epoch: int = -1,
    ):
        self.total_steps = int(total_steps)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.warmup_lr = float(warmup_lr)
        self.min_lr = float(min_lr)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, peak: float) -> float:
        return warmup_cosine_lr(step, peak, self.total_steps, self.warmup_steps, self.warmup_lr, self.min_lr)

    def lrs(self, step: int) -> list[float]:
        """Every group's lr at optimizer step `step` (0-based)."""
        return [
            self.lr_at(step, peak) * group.get("lr_scale", 1.0)
            # torch types lrs as float | Tensor; build_adamw's (the initial lrs here) are floats
            for peak, group in zip(cast(list[float], self.base_lrs), self.optimizer.param_groups, strict=True)
        ]

    def get_lr(self) -> list[float]:  # type: ignore[override]  # list is invariant; floats are lrs
        return self.lrs(self.last_epoch)

    def step_update(self, num_updates: int) -> None:
        """Set the lr of optimizer step `num_updates`, a function of the step alone (the modules
        call this with the global step after every update, so a resumed run continues exactly)."""
        self.last_epoch = int(num_updates)
        for group, lr in zip(self.optimizer.param_groups, self.lrs(self.last_epoch), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def build_warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    warmup_lr: float,
    min_lr: float,
) -> WarmupCosine:
    """Warm-up from `warmup_lr` to the optimizer's lr, then cosine to `min_lr`, per optimizer step,
    exactly as the original's cosine_scheduler (see `warmup_cosine_lr`)."""
    return WarmupCosine(optimizer, total_steps, warmup_steps, warmup_lr, min_lr)


def warmup_steps_for(warmup_epochs: float, steps_per_epoch: int, warmup_steps: int | None) -> int:
    if warmup_steps is not None:
        return int(warmup_steps)
    return int(math.ceil(warmup_epochs * steps_per_epoch))


def per_step_schedule(
    trainer, optimizer: torch.optim.Optimizer, cfg: OptimConfig, effective_batch: int
) -> dict:
    """`configure_optimizers`' answer: the optimizer with warm-up + cosine, stepped every update.
    `min_lr` and `warmup_lr` scale with the batch as `base_lr` does, as in the original code."""
    total = int(trainer.estimated_stepping_batches)
    if not math.isfinite(trainer.num_training_batches):  # a max_steps-only run skips sizing the loader
        trainer.fit_loop.setup_data()
    steps_per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
    warmup = warmup_steps_for(cfg.warmup_epochs, steps_per_epoch, cfg.warmup_steps)
    scheduler = build_warmup_cosine(
        optimizer,
        total,
        warmup,
        scaled_lr(cfg.warmup_lr, effective_batch),
        scaled_lr(cfg.min_lr, effective_batch),
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class Optimizable(Protocol):
    """What `adamw_with_schedule` reads from a module (training.module.VideoModule has it all)."""

    hparams: Any  # .optim: the `optim.*` settings plus batch_per_device (run.optim_hparams)
    model: nn.Module  # the plain model, possibly wrapped by FSDP by now
    param_names: list[dict]  # `param_group_names` of the plain model
    device: torch.device
    trainer: pl.Trainer

    def effective_batch(self) -> int: ...


def adamw_with_schedule(module: Optimizable) -> dict:
    """Both Lightning modules' `configure_optimizers`: AdamW over the groups decided on the plain
    model (`module.param_names`), lr scaled by `module.effective_batch()`, warm-up + cosine."""
    cfg = OptimConfig.of(module.hparams.optim)
    batch = module.effective_batch()
    groups = param_groups(module.model, module.param_names)
    optimizer = build_adamw(
        groups, scaled_lr(cfg.base_lr, batch), cfg.betas, fused=module.device.type == "cuda"
    )
    return per_step_schedule(module.trainer, optimizer, cfg, batch)
