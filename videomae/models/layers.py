"""Transformer building blocks with the parameter names of the original VideoMAE code."""

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import nn
from torch.utils.checkpoint import checkpoint

LAYER_NORM_EPS = 1e-6


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sinusoid table (1, num_positions, dim) over the flattened token index.

    angle(pos, j) = pos / 10000^(2 * floor(j / 2) / dim); sin on even j, cos on odd j.
    Computed in float64 like the reference's numpy code, then cast, so the values match bit for bit.
    """
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    table = torch.where(j.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.to(torch.float32).unsqueeze(0)


class TubeEmbed(nn.Module):
    """Non-overlapping (tubelet x patch x patch) cubes -> tokens ordered (t, h, w), t slowest."""

    def __init__(self, patch_size: int, tubelet_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)

    def as_linear_weight(self) -> torch.Tensor:
        """The conv weight as a (D, t * p * p * C) matrix over `patchify` order (channel last)."""
        return self.proj.weight.permute(0, 2, 3, 4, 1).flatten(1)

    def grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid (t, h, w) for an input size; rejects sizes the tubes do not tile."""
        if num_frames % self.tubelet_size:
            raise ValueError(f"num_frames={num_frames} is not divisible by tubelet_size={self.tubelet_size}")
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"image size {height}x{width} is not divisible by patch_size={self.patch_size}")
        return num_frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        if videos.ndim != 5:
            raise ValueError(f"expected videos (B, C, T, H, W), got shape {tuple(videos.shape)}")
        self.grid(*videos.shape[2:])
        return self.proj(videos).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention; the key has no bias, as in the original (q_bias, 0, v_bias)."""

    q_bias: nn.Parameter | None
    v_bias: nn.Parameter | None
    k_bias: torch.Tensor  # a buffer, registered only with qkv_bias (read only when q_bias is set)

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
            self.register_buffer("k_bias", torch.zeros(dim), persistent=False)
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        """Attend over all tokens; with `num_queries`, only for the last that many tokens."""
        if num_queries is not None:
            return self._forward_last(x, num_queries)
        B, N, C = x.shape
        bias = None
        if self.q_bias is not None:
            assert self.v_bias is not None  # q_bias and v_bias are made together (qkv_bias)
            bias = torch.cat((self.q_bias, self.k_bias.to(self.q_bias.dtype), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.view(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))

    def _forward_last(self, x: torch.Tensor, num_queries: int) -> torch.Tensor:
        B, N, C = x.shape
        heads = self.num_heads
        q_weight, kv_weight = self.qkv.weight.split((C, 2 * C))
        kv_bias = None
        if self.v_bias is not None:
            kv_bias = torch.cat((self.k_bias.to(self.v_bias.dtype), self.v_bias))
        q = F.linear(x[:, -num_queries:], q_weight, self.q_bias)
        k, v = F.linear(x, kv_weight, kv_bias).view(B, N, 2, heads, C // heads).permute(2, 0, 3, 1, 4)
        q = q.view(B, num_queries, heads, C // heads).transpose(1, 2)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, num_queries, C))


class Block(nn.Module):
    """Pre-norm transformer block with optional layer scale (gamma_1/gamma_2) and drop path."""

    gamma_1: nn.Parameter | None
    gamma_2: nn.Parameter | None

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        init_values: float = 0.0,
        norm_eps: float = LAYER_NORM_EPS,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU)
        if init_values > 0:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        """With `num_queries`, return only the last that many tokens (all still attended to)."""
        shortcut = x if num_queries is None else x[:, -num_queries:]
        attn = self.attn(self.norm1(x), num_queries)
        if self.gamma_1 is None:
            x = shortcut + self.drop_path(attn)
            return x + self.drop_path(self.mlp(self.norm2(x)))
        x = shortcut + self.drop_path(self.gamma_1 * attn)
        return x + self.drop_path(self.gamma_2 * self.mlp(self.norm2(x)))


def make_blocks(
    dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float,
    qkv_bias: bool = True,
    drop_path_rate: float = 0.0,
    init_values: float = 0.0,
    norm_eps: float = LAYER_NORM_EPS,
) -> nn.ModuleList:
    """`depth` blocks with drop path rising linearly from 0 to `drop_path_rate`."""
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
    return nn.ModuleList(
        Block(dim, num_heads, mlp_ratio, qkv_bias, rate, init_values, norm_eps) for rate in rates
    )


def run_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, grad_checkpointing: bool, num_outputs: int | None = None
) -> torch.Tensor:
    """Apply blocks in order; with checkpointing, activations are recomputed in backward.

    `num_outputs`: only the last that many tokens are wanted from the last block, which then
    skips computing the others (the same math, less work).
    """
    for i, block in enumerate(blocks):
        queries = num_outputs if i == len(blocks) - 1 else None
        if grad_checkpointing and torch.is_grad_enabled():
            x = checkpoint(block, x, queries, use_reentrant=False)
        else:
            x = block(x, queries)
    return x


def init_weights(module: nn.Module) -> None:
    """The original's init: xavier-uniform linears with zero bias, unit layer norms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def num_masked_per_sample(mask: torch.Tensor) -> int:
    """Masked-token count, which must be the same for every sample of the batch."""
    counts = mask.sum(dim=1)
    n = int(counts[0])
    if mask.shape[0] > 1 and not bool((counts == n).all()):
        raise ValueError("every sample in a batch must have the same number of masked tokens")
    return n
