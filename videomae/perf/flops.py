"""Model FLOPs per clip, computed from the model's shapes rather than counted.

What is counted is what `torch.utils.flop_counter.FlopCounterMode` counts: matrix multiplies
(linear layers, the tube embedding, attention's two products), 2 FLOPs per multiply-add; norms,
activations and the loss are left out (a few per cent of a step's time, no matmul FLOPs). The
encoder runs on the visible tokens only, the decoder on the visible tokens plus the decoded
ones, and its last block only on the decoded ones (VideoMAEPretrain's shortcuts, dual masking
included). Training is forward + backward, the backward counted as twice the forward (gradients
of the inputs and of the weights), except the tube embedding's, whose input (the video) needs no
gradient: once; activation checkpointing recomputes the blocks' forward once more (all but each
block's last matmul). tests/perf/test_flops.py checks these against FlopCounterMode on the real
models.
"""

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from videomae.models import VideoMAEClassifier, VideoMAEPretrain


@dataclass(frozen=True)
class Stack:
    """A stack of pre-norm transformer blocks: width, depth and MLP hidden width."""

    dim: int
    depth: int
    hidden: int

    def block(self, tokens: int, queries: int | None = None) -> float:
        """Forward FLOPs of one block on `tokens` tokens per clip; with `queries`, the block
        computes queries, attention rows, projection and MLP for the last `queries` only."""
        q = tokens if queries is None else queries
        d, n = self.dim, tokens
        qkv = 2 * d * d * q + 2 * d * 2 * d * n  # queries on q tokens, keys and values on all
        attention = 2 * 2 * q * n * d  # q k^T and attn v
        proj = 2 * d * d * q
        mlp = 2 * 2 * d * self.hidden * q
        return float(qkv + attention + proj + mlp)

    def forward(self, tokens: int, last_queries: int | None = None) -> float:
        if self.depth == 0:
            return 0.0
        return (self.depth - 1) * self.block(tokens) + self.block(tokens, last_queries)

    def recomputed(self, tokens: int, last_queries: int | None = None) -> float:
        """What activation checkpointing computes again in the backward: the forward but each
        block's last matmul (MLP fc2), whose output the backward does not need; torch's
        non-reentrant checkpoint stops recomputing once it has what the backward needs."""
        if self.depth == 0:
            return 0.0
        last = tokens if last_queries is None else last_queries
        fc2 = 2 * self.hidden * self.dim * ((self.depth - 1) * tokens + last)
        return self.forward(tokens, last_queries) - fc2


def _stack(blocks: nn.ModuleList) -> Stack:
    first: Any = blocks[0]  # a videomae.models.layers.Block
    return Stack(int(first.norm1.normalized_shape[0]), len(blocks), int(first.mlp.fc1.out_features))


def _tube(encoder) -> int:
    """Inputs per token, C * t * p * p, from the conv's settings (its weight may be a shard)."""
    proj = encoder.patch_embed.proj
    return int(proj.in_channels * math.prod(proj.kernel_size))


@dataclass(frozen=True)
class ClipFlops:
    """FLOPs per clip: `forward`, of which `embed` in the tube embedding; `recomputed`: what
    activation checkpointing computes again, and whether it is on."""

    forward: float
    recomputed: float
    embed: float
    recompute: bool = False

    @property
    def train(self) -> float:
        """Forward, backward (2x forward, the embedding 1x) and, with activation
        checkpointing, the blocks' forward again."""
        return 3 * self.forward - self.embed + (self.recomputed if self.recompute else 0.0)


def pretrain_flops(model, num_masked: int, num_decoded: int | None = None) -> ClipFlops:
    """A VideoMAEPretrain's FLOPs per clip with `num_masked` masked tokens, of which the decoder
    reconstructs `num_decoded` (dual masking; default all)."""
    encoder = model.encoder
    tokens = encoder.num_tokens
    visible = tokens - num_masked
    decoded = num_masked if num_decoded is None else num_decoded
    enc, dec = _stack(encoder.blocks), _stack(model.decoder.blocks)
    tube = _tube(encoder)
    embed = 2 * tube * enc.dim * visible
    enc_blocks = enc.forward(visible)
    to_decoder = 2 * enc.dim * dec.dim * visible
    dec_blocks = dec.forward(visible + decoded, last_queries=decoded)
    head = 2 * dec.dim * model.decoder.head.out_features * decoded
    forward = embed + enc_blocks + to_decoder + dec_blocks + head
    recomputed = enc.recomputed(visible) + dec.recomputed(visible + decoded, last_queries=decoded)
    return ClipFlops(float(forward), recomputed, float(embed), bool(encoder.grad_checkpointing))


def classifier_flops(model) -> ClipFlops:
    """A VideoMAEClassifier's FLOPs per clip: the encoder on every token, mean pool, head."""
    encoder = model.encoder
    tokens = encoder.num_tokens
    enc = _stack(encoder.blocks)
    tube = _tube(encoder)
    blocks = enc.forward(tokens)
    embed = 2 * tube * enc.dim * tokens
    forward = embed + blocks + 2 * enc.dim * model.head.out_features
    return ClipFlops(float(forward), enc.recomputed(tokens), float(embed), bool(encoder.grad_checkpointing))


def module_flops(pl_module) -> ClipFlops | None:
    """FLOPs per training clip of a LightningModule of this framework (its `model`, and for
    pre-training its `mask_generator`); None for a model this module does not know."""
    model = getattr(pl_module, "model", None)
    for _ in range(3):  # torch.compile's and FSDP's wrappers keep the model underneath
        if isinstance(model, VideoMAEPretrain | VideoMAEClassifier):
            break
        model = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
    if isinstance(model, VideoMAEPretrain):
        masks = getattr(pl_module, "mask_generator", None)
        if masks is None:
            return None
        return pretrain_flops(model, masks.num_masked, masks.num_decoded)
    if isinstance(model, VideoMAEClassifier):
        return classifier_flops(model)
    return None
