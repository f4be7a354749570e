"""VideoMAE: masked video autoencoders for self-supervised pre-training."""

from videomae.models import MODEL_SIZES, VideoMAEPretrain, create_pretrain_model

__all__ = ["MODEL_SIZES", "VideoMAEPretrain", "create_pretrain_model"]
