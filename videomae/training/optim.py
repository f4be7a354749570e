"""AdamW with the paper's no-decay rule, learning-rate scaling and the per-step schedule."""

import math

import torch
from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from timm.scheduler import CosineLRScheduler
from torch import nn


def scaled_lr(base_lr: float, effective_batch: int) -> float:
    """The original code's linear scaling rule: lr = base_lr x effective batch / 256, where the
    effective batch counts videos per optimizer step (repeated clips of one video do not count)."""
    return base_lr * effective_batch / 256


def param_group_names(model: nn.Module, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """timm's AdamW groups, holding parameter names: no weight decay for biases, norms (1-D
    parameters) and the model's `no_weight_decay()` tokens; with layer_decay < 1, an `lr_scale` per
    layer (from the model's `group_matcher`), which timm's schedulers apply at every step.

    Names, taken from the plain model, because FSDP turns every parameter into a 1-D shard, which
    timm's rule would exempt from weight decay.
    """
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else ()
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


def build_warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    warmup_lr: float,
    min_lr: float,
) -> CosineLRScheduler:
    """Linear warm-up from `warmup_lr`, then cosine to `min_lr`, updated every optimizer step."""
    warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
    return CosineLRScheduler(
        optimizer,
        t_initial=max(total_steps - warmup_steps, 1),
        lr_min=min_lr,
        warmup_t=warmup_steps,
        warmup_lr_init=warmup_lr,
        warmup_prefix=True,
        t_in_epochs=False,
    )


def warmup_steps_for(warmup_epochs: float, steps_per_epoch: int, warmup_steps: int | None) -> int:
    if warmup_steps is not None:
        return int(warmup_steps)
    return int(math.ceil(warmup_epochs * steps_per_epoch))


def per_step_schedule(trainer, optimizer: torch.optim.Optimizer, cfg: dict, effective_batch: int) -> dict:
    """`configure_optimizers`' answer: the optimizer with warm-up + cosine, stepped every update.
    `min_lr` and `warmup_lr` scale with the batch as `base_lr` does, as in the original code."""
    total = int(trainer.estimated_stepping_batches)
    if not math.isfinite(trainer.num_training_batches):  # a max_steps-only run skips sizing the loader
        trainer.fit_loop.setup_data()
    steps_per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
    warmup = warmup_steps_for(cfg["warmup_epochs"], steps_per_epoch, cfg.get("warmup_steps"))
    scheduler = build_warmup_cosine(
        optimizer,
        total,
        warmup,
        scaled_lr(cfg["warmup_lr"], effective_batch),
        scaled_lr(cfg["min_lr"], effective_batch),
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def adamw_with_schedule(module) -> dict:
    """Both Lightning modules' `configure_optimizers`: AdamW over the groups decided on the plain
    model (`module.param_names`), lr scaled by `module.effective_batch()`, warm-up + cosine."""
    cfg = module.hparams.optim
    batch = module.effective_batch()
    groups = param_groups(module.model, module.param_names)
    optimizer = build_adamw(
        groups, scaled_lr(cfg["base_lr"], batch), cfg["betas"], fused=module.device.type == "cuda"
    )
    return per_step_schedule(module.trainer, optimizer, cfg, batch)
