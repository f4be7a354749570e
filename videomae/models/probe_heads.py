"""Heads of the frozen-encoder probes: the attentive probe of V-JEPA / V-JEPA 2 and the linear
probe of the VideoMAE paper. Each takes the encoder's tokens (B, N, D) and returns logits.

Attentive (V-JEPA 2, arXiv 2506.09985, and its `AttentivePooler`): `depth - 1` pre-norm
self-attention blocks over all tokens, then one cross-attention block in which a single learned
query attends to the LayerNorm-ed tokens (the query itself is not normalised; it is added back,
then an MLP with its own pre-norm, residual), then a linear layer on the query. `depth=4`,
16 heads: V-JEPA 2; `depth=1`: V-JEPA (arXiv 2404.08471). Initialisation as theirs: truncated
normal (std 0.02) linears and query, zero biases, unit norms, and each residual branch's output
projection divided by sqrt(2 * its layer number).

Linear (VideoMAE's linear probe, as MAE's): mean of the tokens -> BatchNorm without affine
parameters (eps 1e-6) -> linear layer.
"""

import math

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models.vision_transformer import Block
from torch import nn

KINDS = ("attentive", "linear")


class CrossAttention(nn.Module):
    """Multi-head attention of queries (B, Q, D) over tokens (B, N, D): separate q and kv maps."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"probe.num_heads={num_heads} does not divide the encoder width {dim}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def weights(self, queries: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The attention (B, heads, Q, N) that `forward` takes its weighted sum of values with."""
        B, Q, D = queries.shape
        N, H = x.shape[1], self.num_heads
        q = self.q(queries).reshape(B, Q, H, D // H).transpose(1, 2)
        k = self.kv(x).reshape(B, N, 2, H, D // H)[:, :, 0].transpose(1, 2)
        return (q @ k.transpose(-2, -1) * (D // H) ** -0.5).softmax(dim=-1)

    def forward(self, queries: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        B, Q, D = queries.shape
        N, H = x.shape[1], self.num_heads
        q = self.q(queries).reshape(B, Q, H, D // H).transpose(1, 2)
        k, v = self.kv(x).reshape(B, N, 2, H, D // H).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim^-0.5
        return self.proj(out.transpose(1, 2).reshape(B, Q, D))


class CrossAttentionBlock(nn.Module):
    """q + attn(q, norm1(x)), then q + mlp(norm2(q))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.xattn = CrossAttention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, queries: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        queries = queries + self.xattn(queries, self.norm1(x))
        return queries + self.mlp(self.norm2(queries))


class AttentiveHead(nn.Module):
    """The attentive probe (see the module docstring): tokens (B, N, D) -> logits (B, classes)."""

    def __init__(
        self,
        dim: int,
        num_classes: int,
        depth: int = 4,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        init_std: float = 0.02,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"probe.depth={depth}: at least 1 (the cross-attention block)")
        if dim % num_heads:
            raise ValueError(f"probe.num_heads={num_heads} does not divide the encoder width {dim}")
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm) for _ in range(depth - 1)
        )
        self.cross = CrossAttentionBlock(dim, num_heads, mlp_ratio)
        self.linear = nn.Linear(dim, num_classes)
        self.init_std = init_std
        nn.init.trunc_normal_(self.query, std=init_std)
        self.apply(self._init)
        with torch.no_grad():  # deeper residual branches start smaller
            for layer, block in enumerate(self.blocks, start=1):
                assert isinstance(block, Block)
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer))
            self.cross.mlp.fc2.weight.div_(math.sqrt(2.0 * max(len(self.blocks), 1)))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=self.init_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """The query's output (B, D): the pooled feature the linear layer reads."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.cross(self.query.expand(len(tokens), -1, -1), tokens)[:, 0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pool(tokens))

    def attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """Where the query looks: its attention over the tokens (B, heads, N), each head summing to 1."""
        for block in self.blocks:
            tokens = block(tokens)
        query = self.query.expand(len(tokens), -1, -1)
        return self.cross.xattn.weights(query, self.cross.norm1(tokens))[:, :, 0]


class LinearHead(nn.Module):
    """Mean of the tokens -> BatchNorm1d(affine=False, eps=1e-6) -> Linear."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(dim=1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(self.pool(tokens)))


def build_head(kind: str, dim: int, num_classes: int, **settings) -> nn.Module:
    """`attentive` (settings: depth, num_heads, mlp_ratio) or `linear`."""
    if kind == "attentive":
        return AttentiveHead(dim, num_classes, **settings)
    if kind == "linear":
        return LinearHead(dim, num_classes)
    raise ValueError(f"probe.kind={kind!r} is not one of {', '.join(KINDS)}")
