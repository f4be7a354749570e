"""Named model sizes and the public factories."""

from videomae.models.classifier import VideoMAEClassifier
from videomae.models.videomae import VideoMAEPretrain

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
