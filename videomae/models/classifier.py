"""VideoMAE classifier for fine-tuning: the encoder on all tokens, mean pooled."""

import torch
from torch import nn

from videomae.models.layers import LAYER_NORM_EPS
from videomae.models.videomae import VideoMAEEncoder
from videomae.utils.pixels import resolve_stats


def _init_finetune_weights(module: nn.Module) -> None:
    """The original fine-tuning init: truncated-normal linears, unit layer norms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class VideoMAEClassifier(nn.Module):
    """`forward(videos) -> logits`: mean of all token features -> fc_norm -> dropout -> head."""

    def __init__(
        self,
        num_classes: int,
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
        fc_drop_rate: float = 0.0,
        init_scale: float = 0.001,
        grad_checkpointing: bool = False,
        # The original's numerics; a converted transformers checkpoint brings its own.
        norm_eps: float = LAYER_NORM_EPS,
        head_norm_eps: float = LAYER_NORM_EPS,
        in_chans: int = 3,  # and the pixel statistics of the inputs: see VideoMAEPretrain
        pixel_mean: tuple[float, ...] | list[float] | None = None,
        pixel_std: tuple[float, ...] | list[float] | None = None,
    ):
        super().__init__()
        self.num_classes = num_classes
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
            final_norm=False,
        )
        self.fc_norm = nn.LayerNorm(embed_dim, eps=head_norm_eps)
        self.fc_dropout = nn.Dropout(fc_drop_rate)
        self.head = nn.Linear(embed_dim, num_classes)
        self.apply(_init_finetune_weights)
        with torch.no_grad():  # a near-zero head keeps early fine-tuning from wrecking the features
            self.head.weight.mul_(init_scale)
            self.head.bias.mul_(init_scale)
        self.encoder.grad_checkpointing = grad_checkpointing

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.encoder.grid

    def no_weight_decay(self) -> set[str]:
        return set()

    def group_matcher(self, coarse: bool = False) -> dict:
        """Layers for layer-wise lr decay (timm's convention): the tube embedding is layer 0,
        encoder block N is layer N + 1, and fc_norm and head (unmatched) come last."""
        return dict(stem=r"^encoder\.patch_embed", blocks=[(r"^encoder\.blocks\.(\d+)", None)])

    # timm's convention: forward_features -> forward_head; `pool` and `forward_head` take tokens.

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, D) feature of the encoder's (B, N, D) tokens: their mean, then fc_norm."""
        return self.fc_norm(tokens.mean(dim=1))

    def forward_features(self, videos: torch.Tensor) -> torch.Tensor:
        """Pooled (B, D) feature of each video."""
        return self.pool(self.encoder(videos))

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits of the encoder's tokens; `pre_logits`: the (B, D) vector the head reads."""
        x = self.pool(tokens)
        return x if pre_logits else self.head(self.fc_dropout(x))

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.encoder(videos))
