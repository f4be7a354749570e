from types import SimpleNamespace

import pytest
import torch
from conftest import TINY_MODEL

from videomae.training.optim import build_adamw, build_warmup_cosine, scaled_lr, warmup_steps_for
from videomae.training.pretrain_module import PretrainModule


def tiny_module(**optim):
    return PretrainModule(
        model=dict(name="vit_tiny", num_frames=4, img_size=32, **TINY_MODEL),
        mask=dict(type="tube", ratio=0.75),
        optim=dict(batch_per_device=8, **optim),
    )


def test_no_weight_decay_on_biases_norms_and_tokens():
    model = tiny_module().model
    opt = build_adamw(model, 1e-3, 0.05, (0.9, 0.95))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {names[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert "mask_token" in plain
    assert "encoder.blocks.0.attn.q_bias" in plain and "encoder.blocks.0.norm1.weight" in plain
    assert "encoder.blocks.0.attn.qkv.weight" in decayed and "decoder.head.weight" in decayed
    assert "encoder.patch_embed.proj.weight" in decayed and "encoder.patch_embed.proj.bias" in plain
    assert decayed | plain == set(names.values())
    assert opt.defaults["betas"] == (0.9, 0.95)


@pytest.mark.parametrize("world, accumulate", [(1, 1), (8, 1), (16, 4)])
def test_lr_scales_with_the_effective_batch(world, accumulate):
    module = tiny_module()
    module._trainer = SimpleNamespace(world_size=world, accumulate_grad_batches=accumulate)
    assert module.effective_batch() == 8 * world * accumulate
    assert scaled_lr(1.5e-4, module.effective_batch()) == pytest.approx(1.5e-4 * 8 * world * accumulate / 256)


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
