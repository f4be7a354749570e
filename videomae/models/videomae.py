"""VideoMAE encoder, decoder and pre-training model, with the math of the original code.

Videos are (B, C, T, H, W), normalized with the ImageNet mean and std. Masks are (B, N) bool,
True = masked, with the same number of masked tokens in every sample.
"""

import torch
import torch.nn.functional as F
from torch import nn

from videomae.models.layers import (
    LAYER_NORM_EPS,
    TubeEmbed,
    init_weights,
    make_blocks,
    num_masked_per_sample,
    run_blocks,
    sinusoid_table,
)
from videomae.models.patches import normalize_patches, patchify
from videomae.utils.pixels import resolve_stats, to_pixels


def as_pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


class PositionTable(nn.Module):
    """Fixed sinusoid positions; rebuilt for another token count (it is a function, not a weight)."""

    table: torch.Tensor  # a non-persistent buffer

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("table", sinusoid_table(num_positions, dim), persistent=False)

    def forward(self, num_positions: int, like: torch.Tensor) -> torch.Tensor:
        table = self.table
        if table.shape[1] != num_positions:
            table = sinusoid_table(num_positions, self.dim).to(table.device)
        return table.to(like.dtype)


class VideoMAEEncoder(nn.Module):
    """ViT over tube tokens; with a mask it sees only the visible tokens."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        num_frames: int = 16,
        patch_size: int = 16,
        tubelet_size: int = 2,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        init_values: float = 0.0,
        final_norm: bool = True,
        norm_eps: float = LAYER_NORM_EPS,
        in_chans: int = 3,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = TubeEmbed(patch_size, tubelet_size, in_chans, embed_dim)
        self.grid = self.patch_embed.grid(num_frames, *as_pair(img_size))
        self.num_tokens = self.grid[0] * self.grid[1] * self.grid[2]
        self.pos_embed = PositionTable(self.num_tokens, embed_dim)
        self.blocks = make_blocks(
            embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate, init_values, norm_eps
        )
        # Mean-pooling classifiers use fc_norm on the pooled feature instead of this norm.
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else nn.Identity()
        self.grad_checkpointing = False

    def forward(self, videos: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            return self.forward_visible(patchify(videos, self.tubelet_size, self.patch_size), mask)
        x = self.patch_embed(videos)
        x = x + self.pos_embed(x.shape[1], x)
        return self.forward_tokens(x)

    def forward_visible(self, patches: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embed and encode only the visible tubes of `patchify`-ed videos.

        The same math as embedding every tube and then dropping the masked ones (the tube
        embedding is a linear map of each tube), without computing what would be dropped.
        """
        B, N = mask.shape
        weight = self.patch_embed.as_linear_weight()
        # In the weights' dtype: FSDP's mixed precision gives bf16 weights and, on CPU, no autocast.
        visible = patches[~mask].flatten(1).to(weight.dtype)  # (B * N_visible, t * p * p * C)
        x = F.linear(visible, weight, self.patch_embed.proj.bias)
        pos = self.pos_embed(N, x).expand(B, -1, -1)[~mask]
        return self.forward_tokens((x + pos).reshape(B, -1, self.embed_dim))

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = run_blocks(self.blocks, x, self.grad_checkpointing)
        return self.norm(x)

    @property
    def tubelet_size(self) -> int:
        return self.patch_embed.tubelet_size

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size


class VideoMAEDecoder(nn.Module):
    """Light transformer that predicts the pixels of the last `num_masked` tokens."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        num_outputs: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_values: float = 0.0,
        norm_eps: float = LAYER_NORM_EPS,
        head_norm_eps: float = LAYER_NORM_EPS,
    ):
        super().__init__()
        self.blocks = make_blocks(
            embed_dim, depth, num_heads, mlp_ratio, qkv_bias, 0.0, init_values, norm_eps
        )
        self.norm = nn.LayerNorm(embed_dim, eps=head_norm_eps)
        self.head = nn.Linear(embed_dim, num_outputs)
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor, num_masked: int) -> torch.Tensor:
        x = run_blocks(self.blocks, x, self.grad_checkpointing, num_outputs=num_masked)
        return self.head(self.norm(x[:, -num_masked:]))


class VideoMAEPretrain(nn.Module):
    """Masked video autoencoder: `forward(videos, mask) -> (loss, pred)`."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        num_frames: int = 16,
        patch_size: int = 16,
        tubelet_size: int = 2,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        decoder_embed_dim: int = 384,
        decoder_depth: int = 4,
        decoder_num_heads: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        init_values: float = 0.0,
        norm_pix_loss: bool = True,
        grad_checkpointing: bool = False,
        decoder_mlp_ratio: float | None = None,  # None: mlp_ratio, as in the original
        # Numerics: the original's for every model built here; a converted transformers checkpoint
        # brings its own (block eps 1e-12, decoder.norm eps 1e-5, no final encoder norm).
        norm_eps: float = LAYER_NORM_EPS,
        head_norm_eps: float = LAYER_NORM_EPS,
        encoder_norm: bool = True,
        # Video of another channel count (1: gray, infrared, depth); the pixel mean and std per
        # channel that the inputs were normalised with (None: ImageNet's for 3, its luma for 1).
        in_chans: int = 3,
        pixel_mean: tuple[float, ...] | list[float] | None = None,
        pixel_std: tuple[float, ...] | list[float] | None = None,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.norm_pix_loss = norm_pix_loss
        self.pixel_mean, self.pixel_std = resolve_stats(in_chans, pixel_mean, pixel_std)
        self.encoder = VideoMAEEncoder(
            img_size=img_size,
            num_frames=num_frames,
            patch_size=patch_size,
            tubelet_size=tubelet_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_path_rate=drop_path_rate,
            init_values=init_values,
            norm_eps=norm_eps,
            in_chans=in_chans,
            final_norm=encoder_norm,
        )
        self.encoder_to_decoder = nn.Linear(embed_dim, decoder_embed_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.pos_embed = PositionTable(self.encoder.num_tokens, decoder_embed_dim)
        self.decoder = VideoMAEDecoder(
            decoder_embed_dim,
            decoder_depth,
            decoder_num_heads,
            in_chans * tubelet_size * patch_size * patch_size,
            mlp_ratio if decoder_mlp_ratio is None else decoder_mlp_ratio,
            qkv_bias,
            init_values,
            norm_eps=norm_eps,
            head_norm_eps=head_norm_eps,
        )
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.set_grad_checkpointing(grad_checkpointing)

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (t, h, w) of the configured input size; masks are drawn on it."""
        return self.encoder.grid

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.encoder.grad_checkpointing = enable
        self.decoder.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        return {"mask_token"}

    # The classifier's feature methods (timm's forward_features / forward_head), for the encoder.

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, D) feature of the encoder's (B, N, D) tokens (after its final norm): their mean."""
        return tokens.mean(dim=1)

    def forward_features(self, videos: torch.Tensor) -> torch.Tensor:
        """Pooled (B, D) feature of each video, every token seen (no mask)."""
        return self.pool(self.encoder(videos))

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = True) -> torch.Tensor:
        """There is no classification head: `pre_logits` only, the vector a new head's fc_norm
        gives at its initialisation (the mean, layer-normalised without affine parameters)."""
        if not pre_logits:
            raise ValueError("a pre-training model has no classification head: forward_head(pre_logits=True)")
        mean = self.pool(tokens)
        return F.layer_norm(mean, mean.shape[-1:])

    def forward_encoder(self, patches: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_visible(patches, mask)

    def forward_decoder(self, x_vis: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Visible tokens first, then one mask token per target position, each with its position."""
        x_vis = self.encoder_to_decoder(x_vis)
        B, _, D = x_vis.shape
        pos = self.pos_embed(mask.shape[1], x_vis).expand(B, -1, -1)
        pos_vis = pos[~mask].reshape(B, -1, D)
        pos_targets = pos[targets].reshape(B, -1, D)
        x = torch.cat([x_vis + pos_vis, self.mask_token + pos_targets], dim=1)
        return self.decoder(x, pos_targets.shape[1])

    @torch.no_grad()
    def forward_target(self, patches: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Pixels of the target tokens, normalized per patch and channel; always fp32.

        `patches`: the normalized videos, `patchify`-ed (B, N, t * p * p, C).
        """
        with torch.autocast(patches.device.type, enabled=False):
            B, _, K, C = patches.shape
            patches = patches[targets].reshape(B, -1, K, C).float()  # only what the loss needs
            patches = to_pixels(patches, True, self.pixel_mean, self.pixel_std)  # back to [0, 1] pixels
            if self.norm_pix_loss:
                patches = normalize_patches(patches)
            return patches.flatten(2)

    def forward_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred.float(), target)

    def forward(
        self, videos: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`targets`: the masked tokens to reconstruct (VideoMAE V2 dual masking); default all."""
        expected = (videos.shape[0], self._num_tokens(videos))
        if mask.shape != expected:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match videos {tuple(videos.shape)}: "
                f"expected {expected}"
            )
        num_masked_per_sample(mask)
        if targets is None:
            targets = mask
        elif targets.shape != expected:
            raise ValueError(f"targets shape {tuple(targets.shape)} does not match mask {expected}")
        patches = patchify(videos, self.tubelet_size, self.patch_size)
        x_vis = self.forward_encoder(patches, mask)
        pred = self.forward_decoder(x_vis, mask, targets)
        loss = self.forward_loss(pred, self.forward_target(patches, targets))
        return loss, pred

    def _num_tokens(self, videos: torch.Tensor) -> int:
        t, h, w = self.encoder.patch_embed.grid(*videos.shape[2:])
        return t * h * w
