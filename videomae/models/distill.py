"""What distillation adds to a student VideoMAE: the heads that map its tokens onto a frozen
teacher's, the teacher's tokens on the student's grid, and the losses. Plain `nn.Module`s and
functions; `videomae.training.distill_module` wires them into a run.

Targets (`distill.target`):
- latent: the student encodes the visible tokens of a masked clip; `LatentPredictor` (a light
  VideoMAE-style decoder) regresses the teacher's output tokens (teacher sees the whole clip) at the
  masked positions.
- features: student blocks aligned to teacher blocks at the tokens the student sees, through one
  `nn.Linear` per pair (`FeatureProjectors`); the teacher sees a less-masked clip that contains them.
- logits: `LogitHead` on the student's mean-pooled tokens, matched to a classifier teacher's logits
  by KL divergence at a temperature, on identical views.
"""

import torch
import torch.nn.functional as F
from torch import nn

from videomae.models.layers import init_weights, make_blocks, run_blocks
from videomae.models.patches import patchify
from videomae.models.videomae import PositionTable, VideoMAEEncoder

TARGETS = ("latent", "features", "logits")
LOSSES = ("l1", "l2", "smooth_l1")


class LatentPredictor(nn.Module):
    """Student visible tokens -> the teacher's tokens at the masked positions.

    The decoder of VideoMAE with the teacher's width as output: `Linear(Ds, Dp)`, a learned mask
    token plus a fixed sinusoid position per token, `depth` blocks, LayerNorm, `Linear(Dp, Dt)`."""

    def __init__(
        self, student_dim: int, teacher_dim: int, num_tokens: int, width: int, depth: int, num_heads: int
    ):
        super().__init__()
        self.embed = nn.Linear(student_dim, width, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = PositionTable(num_tokens, width)
        self.blocks = make_blocks(width, depth, num_heads, 4.0, True, 0.0, 0.0)
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, teacher_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token"}

    def forward(self, x_vis: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x_vis = self.embed(x_vis)
        B, _, D = x_vis.shape
        pos = self.pos_embed(mask.shape[1], x_vis).expand(B, -1, -1)
        queries = self.mask_token + pos[mask].reshape(B, -1, D)
        x = torch.cat([x_vis + pos[~mask].reshape(B, -1, D), queries], dim=1)
        x = run_blocks(self.blocks, x, False, num_outputs=queries.shape[1])
        return self.head(self.norm(x[:, -queries.shape[1] :]))


class FeatureProjectors(nn.Module):
    """One `Linear(Ds, Dt)` per aligned (student block, teacher block) pair."""

    def __init__(self, student_dim: int, teacher_dim: int, pairs: int):
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(student_dim, teacher_dim) for _ in range(pairs))
        self.apply(init_weights)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [proj(x) for proj, x in zip(self.proj, features, strict=True)]


class LogitHead(nn.Module):
    """Mean-pooled student tokens -> LayerNorm -> `Linear(Ds, classes)`: the classifier's shape."""

    def __init__(self, student_dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(student_dim, eps=1e-6)
        self.head = nn.Linear(student_dim, num_classes)
        self.apply(init_weights)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(tokens.mean(dim=1)))


def encode_blocks(
    encoder: VideoMAEEncoder, videos: torch.Tensor, mask: torch.Tensor | None, after: list[int]
) -> list[torch.Tensor]:
    """The encoder's tokens after each block number in `after` (1 = the first block's output;
    `depth` = the last block's, before the final norm), on the visible tokens when `mask` is given.
    The same math as `encoder(videos, mask)`, stopped where the last wanted block ends."""
    if mask is None:
        x = encoder.patch_embed(videos)
        x = x + encoder.pos_embed(x.shape[1], x)
    else:
        patches = patchify(videos, encoder.tubelet_size, encoder.patch_size)
        B, N = mask.shape
        weight = encoder.patch_embed.as_linear_weight()
        visible = patches[~mask].flatten(1).to(weight.dtype)
        x = F.linear(visible, weight, encoder.patch_embed.proj.bias)
        x = (x + encoder.pos_embed(N, x).expand(B, -1, -1)[~mask]).reshape(B, -1, encoder.embed_dim)
    outputs = {}
    for number, block in enumerate(encoder.blocks[: max(after)], start=1):
        x = block(x)
        outputs[number] = x
    return [outputs[number] for number in after]


def nested_masks(
    batch: int, grid: tuple[int, int, int], kind: str, student_ratio: float, teacher_ratio: float, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(student mask, teacher mask) from one draw, as `masking.MaskGenerator` draws (`kind`: tube
    masks `int(ratio * h * w)` positions in every time slot, random `int(ratio * t * h * w)` tokens):
    the teacher masks a share of what the student masks, so every token the student sees the
    teacher sees too (AMD's asymmetric masking)."""
    t, h, w = grid
    pool = h * w if kind == "tube" else t * h * w
    ranks = torch.rand(batch, pool, device=device).argsort(dim=1).argsort(dim=1)
    masks = [ranks < int(ratio * pool) for ratio in (student_ratio, teacher_ratio)]
    if kind == "tube":
        masks = [m.unsqueeze(1).expand(batch, t, pool).reshape(batch, t * pool) for m in masks]
    return masks[0], masks[1]


def cell_factors(teacher_grid: tuple[int, ...], student_grid: tuple[int, ...]) -> tuple[int, ...] | None:
    """Teacher tokens per student token along (t, h, w), or None when the grids do not nest."""
    if any(tg % sg or tg < sg for tg, sg in zip(teacher_grid, student_grid, strict=True)):
        return None
    return tuple(tg // sg for tg, sg in zip(teacher_grid, student_grid, strict=True))


def to_teacher_grid(mask: torch.Tensor, student_grid, factors) -> torch.Tensor:
    """A (B, N) student-grid mask on the teacher's finer grid: every teacher token of a cell as its cell."""
    m = mask.reshape(mask.shape[0], *student_grid)
    for axis, factor in enumerate(factors, start=1):
        m = m.repeat_interleave(factor, dim=axis)
    return m.flatten(1)


def pool_to_student(
    tokens: torch.Tensor, mask: torch.Tensor | None, teacher_grid, student_grid
) -> torch.Tensor:
    """Teacher tokens (B, N_visible, D) -> (B, N_student, D) on the student's grid: each student
    token gets the mean of the teacher tokens of its cell (the identity on equal grids). Cells the
    teacher did not see come out as zeros; callers only read the cells it saw."""
    B, _, D = tokens.shape
    if mask is not None:
        full = tokens.new_zeros(B, mask.shape[1], D)
        full[~mask] = tokens.reshape(-1, D)
        tokens = full
    if tuple(teacher_grid) == tuple(student_grid):
        return tokens
    x = tokens.transpose(1, 2).reshape(B, D, *teacher_grid)
    return F.adaptive_avg_pool3d(x, tuple(student_grid)).flatten(2).transpose(1, 2)


def regression_loss(pred: torch.Tensor, target: torch.Tensor, loss: str, norm_targets: bool) -> torch.Tensor:
    """Mean over tokens and channels of `loss` (l1, l2 or smooth_l1) between the prediction and the
    target, the target first layer-normalised per token (no affine) when `norm_targets`. fp32."""
    target = target.float()
    if norm_targets:
        target = F.layer_norm(target, target.shape[-1:], eps=1e-6)
    pred = pred.float()
    if loss == "l1":
        return F.l1_loss(pred, target)
    if loss == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    return F.mse_loss(pred, target)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes at `temperature`, times temperature squared (so that
    the gradient's scale does not depend on it), averaged over the batch (Hinton et al.)."""
    t = float(temperature)
    log_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * t * t
