"""VideoMAE: masked video autoencoders for self-supervised pre-training."""

from videomae.models import (
    MODEL_SIZES,
    VideoMAEClassifier,
    VideoMAEPretrain,
    create_classifier,
    create_pretrain_model,
)

__all__ = [
    "MODEL_SIZES",
    "VideoMAEClassifier",
    "VideoMAEPretrain",
    "create_classifier",
    "create_pretrain_model",
]
