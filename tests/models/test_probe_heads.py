"""The probe heads against a fresh reading of their papers' description, written out in tensor ops."""

import math

import pytest
import torch
import torch.nn.functional as F

from videomae.models.probe_heads import AttentiveHead, LinearHead, build_head


def _ln(x, norm):
    return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)


def _mha(q_in, kv_in, wq, bq, wk, bk, wv, bv, wo, bo, heads):
    """Multi-head attention written out: softmax(q k^T / sqrt(d_head)) v, heads concatenated."""
    B, Q, D = q_in.shape
    d = D // heads

    def split(t):
        return t.reshape(B, -1, heads, d).transpose(1, 2)

    q, k, v = split(q_in @ wq.T + bq), split(kv_in @ wk.T + bk), split(kv_in @ wv.T + bv)
    attn = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(-1)
    return (attn @ v).transpose(1, 2).reshape(B, Q, D) @ wo.T + bo


def _mlp(x, mlp):
    return F.gelu(x @ mlp.fc1.weight.T + mlp.fc1.bias) @ mlp.fc2.weight.T + mlp.fc2.bias


def reference_attentive(head: AttentiveHead, x: torch.Tensor, heads: int) -> torch.Tensor:
    """V-JEPA 2: self-attention blocks x + attn(LN(x)), x + mlp(LN(x)); then one learned query q:
    q + attn(q, LN(x)) (the query not normalised), q + mlp(LN(q)); then a linear layer."""
    D = x.shape[-1]
    for block in head.blocks:
        w, b = block.attn.qkv.weight, block.attn.qkv.bias
        h = _ln(x, block.norm1)
        x = x + _mha(h, h, w[:D], b[:D], w[D : 2 * D], b[D : 2 * D], w[2 * D :], b[2 * D :],
                     block.attn.proj.weight, block.attn.proj.bias, heads)  # fmt: skip
        x = x + _mlp(_ln(x, block.norm2), block.mlp)
    cross = head.cross
    q = head.query.expand(len(x), 1, D)
    wkv, bkv = cross.xattn.kv.weight, cross.xattn.kv.bias
    h = _ln(x, cross.norm1)
    q = q + _mha(q, h, cross.xattn.q.weight, cross.xattn.q.bias, wkv[:D], bkv[:D], wkv[D:], bkv[D:],
                 cross.xattn.proj.weight, cross.xattn.proj.bias, heads)  # fmt: skip
    q = q + _mlp(_ln(q, cross.norm2), cross.mlp)
    return q[:, 0] @ head.linear.weight.T + head.linear.bias


@pytest.mark.parametrize("depth", [1, 4])
def test_attentive_head_is_the_described_computation(depth):
    torch.manual_seed(0)
    head = AttentiveHead(dim=32, num_classes=5, depth=depth, num_heads=16).eval()
    with torch.no_grad():  # non-trivial norms and biases, so that a missing one shows
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 10, 32)
    assert len(head.blocks) == depth - 1
    torch.testing.assert_close(head(x), reference_attentive(head, x, 16), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 3])
def test_attentive_head_attention_is_the_weighting_its_query_pools_with(depth):
    """attention(x): per head, the weights whose sum of the values (then the output projection)
    is the cross-attention's output, which feeds the class scores."""
    torch.manual_seed(0)
    head = AttentiveHead(dim=32, num_classes=5, depth=depth, num_heads=4).eval()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        for p in head.parameters():  # away from the near-uniform attention of the initialisation
            p.add_(0.5 * torch.randn_like(p))
        weights = head.attention(x)
        assert weights.shape == (2, 4, 10) and torch.allclose(weights.sum(-1), torch.ones(2, 4))
        tokens = x
        for block in head.blocks:
            tokens = block(tokens)
        h = head.cross.norm1(tokens)
        xattn = head.cross.xattn
        v = xattn.kv(h)[..., 32:].reshape(2, 10, 4, 8).transpose(1, 2)  # (B, heads, N, d)
        pooled = (weights[:, :, None] @ v).reshape(2, 32) @ xattn.proj.weight.T + xattn.proj.bias
        expected = xattn(head.query.expand(2, 1, 32), h)[:, 0]
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-6)


def test_attentive_head_pools_over_every_token_and_ignores_their_order():
    torch.manual_seed(0)
    head = AttentiveHead(dim=32, num_classes=4, depth=1, num_heads=4).eval()
    x = torch.randn(2, 12, 32)
    shuffled = x[:, torch.randperm(12)]
    torch.testing.assert_close(head(x), head(shuffled), rtol=1e-4, atol=1e-5)
    changed = x.clone()
    changed[:, 11] = 3 * torch.randn(2, 32)  # the last token counts too
    assert not torch.allclose(head(x), head(changed))


def test_attentive_head_init_as_vjepa():
    torch.manual_seed(0)
    head = AttentiveHead(dim=64, num_classes=3, depth=4, num_heads=16)
    assert float(head.linear.bias.abs().max()) == 0
    assert 0.01 < float(head.query.std()) < 0.03
    # residual output projections divided by sqrt(2 * layer): the third block's are smaller
    first, third = head.blocks[0].attn.proj.weight.std(), head.blocks[2].attn.proj.weight.std()
    assert float(third / first) == pytest.approx(1 / math.sqrt(3), rel=0.25)
    # and the cross-attention block's MLP output by sqrt(2 x 3) after 3 blocks (their _rescale_blocks)
    assert float(head.cross.mlp.fc2.weight.std()) == pytest.approx(0.02 / math.sqrt(6), rel=0.15)
    with pytest.raises(ValueError, match="num_heads=5"):
        AttentiveHead(dim=64, num_classes=3, num_heads=5)


def test_linear_head_is_mean_batchnorm_without_affine_then_linear():
    torch.manual_seed(0)
    head = LinearHead(16, 4).train()
    assert [n for n, _ in head.named_parameters()] == ["linear.weight", "linear.bias"]
    x = torch.randn(6, 9, 16)
    pooled = x.mean(1)
    normed = (pooled - pooled.mean(0)) / torch.sqrt(pooled.var(0, unbiased=False) + 1e-6)
    torch.testing.assert_close(head(x), normed @ head.linear.weight.T + head.linear.bias)
    with pytest.raises(ValueError, match="probe.kind='mlp'"):
        build_head("mlp", 16, 4)
