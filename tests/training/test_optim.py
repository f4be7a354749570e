import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import TINY_MODEL
from omegaconf import OmegaConf
from timm.optim import param_groups_layer_decay, param_groups_weight_decay

import videomae
from videomae.training.optim import (
    OptimConfig,
    build_adamw,
    build_warmup_cosine,
    param_group_names,
    param_groups,
    per_step_schedule,
    scaled_lr,
    warmup_steps_for,
)
from videomae.training.pretrain_module import PretrainModule


def schedule(**settings) -> OptimConfig:
    """The schedule's settings, with the rest of a valid `optim`."""
    return OptimConfig(**{"base_lr": 1e-3, "weight_decay": 0.05, "betas": [0.9, 0.999], **settings})


def tiny_module(**optim):
    return PretrainModule(
        model=dict(name="vit_tiny", num_frames=4, img_size=32, **TINY_MODEL),
        mask=dict(type="tube", ratio=0.75),
        optim={"batch_per_device": 8, "weight_decay": 0.05, **optim},
    )


def test_no_weight_decay_on_biases_norms_and_tokens():
    module = tiny_module()
    model = module.model
    opt = build_adamw(param_groups(model, module.param_names), 1e-3, (0.9, 0.95))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {names[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert "mask_token" in plain
    assert "encoder.blocks.0.attn.q_bias" in plain and "encoder.blocks.0.norm1.weight" in plain
    assert "encoder.blocks.0.attn.qkv.weight" in decayed and "decoder.head.weight" in decayed
    assert "encoder.patch_embed.proj.weight" in decayed and "encoder.patch_embed.proj.bias" in plain
    assert decayed | plain == set(names.values())
    assert opt.defaults["betas"] == (0.9, 0.95)


@pytest.mark.parametrize("layer_decay", [1.0, 0.75])
def test_groups_by_name_are_timms_groups(layer_decay):
    model = videomae.create_classifier(
        "vit_tiny", 5, embed_dim=32, depth=2, num_heads=2, num_frames=4, img_size=32
    )
    skip = model.no_weight_decay()
    if layer_decay < 1:
        timm_groups = param_groups_layer_decay(model, 0.05, skip, layer_decay=layer_decay)
    else:
        timm_groups = param_groups_weight_decay(model, 0.05, no_weight_decay_list=skip)
    ours = param_groups(model, param_group_names(model, 0.05, layer_decay))
    as_ids = lambda groups: [{**g, "params": [id(p) for p in g["params"]]} for g in groups]
    assert as_ids(ours) == as_ids(timm_groups)


def test_a_parameter_in_no_group_is_an_error():
    module = tiny_module()
    module.model.extra = torch.nn.Parameter(torch.zeros(3))  # added after the groups were decided
    with pytest.raises(RuntimeError, match="in no optimizer group: extra"):
        param_groups(module.model, module.param_names)


@pytest.mark.parametrize("world, accumulate", [(1, 1), (8, 1), (16, 4)])
def test_lr_scales_with_the_effective_batch(world, accumulate):
    module = tiny_module()
    module._trainer = SimpleNamespace(world_size=world, accumulate_grad_batches=accumulate)
    assert module.effective_batch() == 8 * world * accumulate
    assert scaled_lr(1.5e-4, module.effective_batch()) == pytest.approx(1.5e-4 * 8 * world * accumulate / 256)


def test_repeated_clips_do_not_count_in_the_batch_the_lr_scales_with():
    from videomae.training.configs import optim_hparams

    cfg = OmegaConf.create({"optim": {"base_lr": 1e-3}, "data": {"batch_size": 6, "num_sample": 2}})
    assert optim_hparams(cfg)["batch_per_device"] == 6  # as the original: videos, not clips


def cosine_scheduler_reference(
    base, final, epochs, niter_per_ep, warmup_epochs=0, start=0.0, warmup_steps=-1
):
    """MCG-NJU/VideoMAE utils.cosine_scheduler's formula: W = warmup_epochs x niter (or
    warmup_steps when > 0) values of linspace(start, base, W), the end included; then
    final + (base - final) (1 + cos(pi i / L)) / 2 for i < L = epochs x niter - W."""
    warmup = warmup_steps if warmup_steps > 0 else warmup_epochs * niter_per_ep
    ramp = np.linspace(start, base, warmup) if warmup_epochs > 0 else np.array([])
    left = epochs * niter_per_ep - warmup
    decay = [final + 0.5 * (base - final) * (1 + math.cos(math.pi * i / left)) for i in range(left)]
    return np.concatenate([ramp, decay])


def lrs_per_step(scheduler, steps):
    """Each group's lr at optimizer steps 0..steps-1, as the Lightning modules drive it (the lr of
    step k is set after k updates)."""
    seen = [[g["lr"] for g in scheduler.optimizer.param_groups]]
    for done in range(1, steps):
        scheduler.step_update(num_updates=done)
        seen.append([g["lr"] for g in scheduler.optimizer.param_groups])
    return np.array(seen)


# (epochs, steps per epoch, warm-up epochs, warm-up steps): W = 7, W = 1, W = 2, W = 13 given
# directly, a 40-epoch warm-up as the pre-training scripts, and no warm-up at all (W = 0).
SCHEDULES = [
    (5, 7, 1, None),
    (4, 5, 1, 1),
    (3, 2, 1, None),
    (6, 9, 2, 13),
    (50, 3, 40, None),
    (3, 10, 0, None),
]


@pytest.mark.parametrize("epochs, per_epoch, warmup_epochs, warmup_steps", SCHEDULES)
def test_lr_at_every_step_is_the_originals(epochs, per_epoch, warmup_epochs, warmup_steps):
    module = videomae.create_classifier(
        "vit_tiny", 5, embed_dim=32, depth=2, num_heads=2, num_frames=4, img_size=32
    )
    groups = param_groups(module, param_group_names(module, 0.05, layer_decay=0.75))
    peak, warmup_lr, min_lr = scaled_lr(1e-3, 512), scaled_lr(1e-6, 512), scaled_lr(1e-5, 512)
    opt = build_adamw(groups, peak, (0.9, 0.999))
    trainer = SimpleNamespace(
        estimated_stepping_batches=epochs * per_epoch,
        num_training_batches=per_epoch,
        accumulate_grad_batches=1,
    )
    cfg = schedule(warmup_epochs=warmup_epochs, warmup_steps=warmup_steps, warmup_lr=1e-6, min_lr=1e-5)
    scheduler = per_step_schedule(trainer, opt, cfg, effective_batch=512)["lr_scheduler"]["scheduler"]
    expected = cosine_scheduler_reference(
        peak, min_lr, epochs, per_epoch, warmup_epochs, warmup_lr, warmup_steps or -1
    )
    scales = np.array([g["lr_scale"] for g in opt.param_groups])
    assert len(set(scales)) == 4  # layer decay: each group is scaled, as the original's lr_scale
    got = lrs_per_step(scheduler, epochs * per_epoch)
    np.testing.assert_array_equal(got, expected[:, None] * scales[None, :])  # exactly, every step
    warmup = warmup_steps or warmup_epochs * per_epoch
    if warmup > 1:
        assert got[warmup - 1, -1] == peak and got[warmup, -1] == peak  # peak at W - 1, cosine from W
    scheduler.step_update(num_updates=epochs * per_epoch + 5)  # past the end: the final lr
    assert opt.param_groups[-1]["lr"] == min_lr


def test_the_schedule_resumes_from_its_state():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1e-3)
    sched = build_warmup_cosine(opt, total_steps=100, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    lrs_per_step(sched, 37)
    state = sched.state_dict()
    fresh_opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    fresh = build_warmup_cosine(fresh_opt, total_steps=100, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    fresh.load_state_dict(state)
    sched.step_update(37)
    fresh.step_update(37)
    assert fresh_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert opt.param_groups[0]["lr"] == cosine_scheduler_reference(1e-3, 1e-5, 10, 10, 1, 1e-6)[37]


def test_min_and_warmup_lr_scale_with_the_batch_as_the_original():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=scaled_lr(1e-3, 512))
    trainer = SimpleNamespace(
        estimated_stepping_batches=20, num_training_batches=10, accumulate_grad_batches=1
    )
    cfg = schedule(warmup_epochs=1, warmup_lr=1e-6, min_lr=1e-5)
    scheduler = per_step_schedule(trainer, opt, cfg, effective_batch=512)["lr_scheduler"]["scheduler"]
    scheduler.step_update(0)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-6)
    scheduler.step_update(20)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-5)


def test_warmup_steps_from_epochs_or_explicit():
    assert warmup_steps_for(40, 100, None) == 4000
    assert warmup_steps_for(0.5, 7, None) == 4
    assert warmup_steps_for(40, 100, 12) == 12
