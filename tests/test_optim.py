from types import SimpleNamespace

import pytest
import torch
from conftest import TINY_MODEL
from omegaconf import OmegaConf
from timm.optim import param_groups_layer_decay, param_groups_weight_decay

import videomae
from videomae.training.optim import (
    build_adamw,
    build_warmup_cosine,
    param_group_names,
    param_groups,
    per_step_schedule,
    scaled_lr,
    warmup_steps_for,
)
from videomae.training.pretrain_module import PretrainModule


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
    from videomae.training.pretrain import optim_hparams

    cfg = OmegaConf.create({"optim": {"base_lr": 1e-3}, "data": {"batch_size": 6, "num_sample": 2}})
    assert optim_hparams(cfg)["batch_per_device"] == 6  # as the original: videos, not clips


def test_min_and_warmup_lr_scale_with_the_batch_as_the_original():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=scaled_lr(1e-3, 512))
    trainer = SimpleNamespace(
        estimated_stepping_batches=20, num_training_batches=10, accumulate_grad_batches=1
    )
    cfg = dict(warmup_epochs=1, warmup_lr=1e-6, min_lr=1e-5)
    scheduler = per_step_schedule(trainer, opt, cfg, effective_batch=512)["lr_scheduler"]["scheduler"]
    scheduler.step_update(0)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-6)
    scheduler.step_update(20)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-5)


def test_warmup_then_cosine_per_step():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1e-3)
    sched = build_warmup_cosine(opt, total_steps=100, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    lrs = []
    for step in range(100):
        sched.step_update(step)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(1e-6)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11], strict=True))  # linear warm-up
    assert lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then cosine decay
    assert lrs[55] == pytest.approx((1e-3 + 1e-5) / 2, rel=0.02)
    assert lrs[-1] == pytest.approx(1e-5, rel=0.05)


def test_warmup_steps_from_epochs_or_explicit():
    assert warmup_steps_for(40, 100, None) == 4000
    assert warmup_steps_for(0.5, 7, None) == 4
    assert warmup_steps_for(40, 100, 12) == 12
