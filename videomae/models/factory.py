"""Named model sizes, the `model.*` settings and the public factories."""

from dataclasses import dataclass

from videomae.models.classifier import VideoMAEClassifier
from videomae.models.videomae import VideoMAEPretrain
from videomae.utils.config_fields import UNSET, Settings, optional, setting
from videomae.utils.errors import ConfigError

# Either model this framework builds (what a checkpoint spec describes).
VideoMAEModel = VideoMAEPretrain | VideoMAEClassifier

# Encoder width/depth/heads and decoder width/heads of the paper's sizes. Decoder depth is 4.
MODEL_SIZES: dict[str, dict] = {
    "vit_tiny": dict(embed_dim=192, depth=12, num_heads=3, decoder_embed_dim=128, decoder_num_heads=2),
    "vit_small": dict(embed_dim=384, depth=12, num_heads=6, decoder_embed_dim=192, decoder_num_heads=3),
    "vit_base": dict(embed_dim=768, depth=12, num_heads=12, decoder_embed_dim=384, decoder_num_heads=6),
    "vit_large": dict(embed_dim=1024, depth=24, num_heads=16, decoder_embed_dim=512, decoder_num_heads=8),
    "vit_huge": dict(embed_dim=1280, depth=32, num_heads=16, decoder_embed_dim=640, decoder_num_heads=8),
    "vit_giant": dict(
        embed_dim=1408,
        depth=40,
        num_heads=16,
        decoder_embed_dim=512,
        decoder_num_heads=8,
        patch_size=14,
        mlp_ratio=48 / 11,
    ),
}


@dataclass(frozen=True, kw_only=True)
class ModelConfig(Settings):
    """`model.*`: the encoder (and the pre-training decoder). A size (`name`) gives the widths,
    depths and heads (MODEL_SIZES, written once there); a field left out (UNSET) is the size's or
    the constructor's value. Keys not listed here go to the constructor, which checks them."""

    GROUP = "model"
    name: str = setting(checked=False)  # one of MODEL_SIZES
    in_chans: int = optional(low=1, high=64)  # checkpoints.spec_check.MAX_CHANNELS
    embed_dim: int = optional(low=1)
    depth: int = optional(low=1)
    num_heads: int = optional(low=1)
    decoder_embed_dim: int = optional(low=1)
    decoder_num_heads: int = optional(low=1)
    decoder_depth: int = optional(low=1)
    patch_size: int = optional(low=1)
    tubelet_size: int = optional(low=1)
    mlp_ratio: float = optional(low=0, low_open=True)
    qkv_bias: bool = optional()
    drop_path_rate: float = optional(low=0, high=1, high_open=True)
    init_values: float = optional(low=0)  # layer scale; 0 disables it
    norm_pix_loss: bool = optional()
    grad_checkpointing: bool = optional()
    fc_drop_rate: float = optional(low=0, high=1, high_open=True)  # classifier: dropout before the head
    init_scale: float = optional(low=0)  # classifier: head weights scaled at init

    def check(self) -> None:
        for width, heads in (("embed_dim", "num_heads"), ("decoder_embed_dim", "decoder_num_heads")):
            w, h = getattr(self, width), getattr(self, heads)
            if w is not UNSET and h is not UNSET and w % h:
                raise ConfigError(f"model.{width}={w} is not divisible by model.{heads}={h}")
        if self.name not in MODEL_SIZES:
            raise ConfigError(f"model.name={self.name!r} is not one of {', '.join(MODEL_SIZES)}")

    def value(self, key: str):
        """The value the model is built with: this setting's, else the size's (None: neither)."""
        mine = getattr(self, key)
        return MODEL_SIZES[self.name].get(key) if mine is UNSET else mine


def model_config(name: str, **overrides) -> dict:
    """The full constructor arguments of a named size, with overrides applied."""
    if name not in MODEL_SIZES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_SIZES)}")
    return {**MODEL_SIZES[name], **overrides}


def create_pretrain_model(name: str, **overrides) -> VideoMAEPretrain:
    """A pre-training VideoMAE of a named size, e.g. `create_pretrain_model("vit_base")`."""
    return VideoMAEPretrain(**model_config(name, **overrides))


# VideoMAEPretrain's arguments that a classifier has no use for: the decoder, the loss target and
# the encoder's final norm (a classifier pools first and normalises with its fc_norm).
PRETRAINING_ONLY = frozenset(
    {"decoder_embed_dim", "decoder_depth", "decoder_num_heads", "decoder_mlp_ratio"}
    | {"norm_pix_loss", "encoder_norm"}
)


def create_classifier(name: str, num_classes: int, **overrides) -> VideoMAEClassifier:
    """A mean-pooling classifier on a named encoder size. The PRETRAINING_ONLY settings are left
    out, so that one `model` config (and a pre-training checkpoint's) builds both models; any other
    key the classifier does not take is an error."""
    config = {k: v for k, v in model_config(name, **overrides).items() if k not in PRETRAINING_ONLY}
    return VideoMAEClassifier(num_classes=num_classes, **config)
