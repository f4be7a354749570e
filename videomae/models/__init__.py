from videomae.models.classifier import VideoMAEClassifier
from videomae.models.factory import (
    MODEL_SIZES,
    PRETRAINING_ONLY,
    ModelConfig,
    create_classifier,
    create_pretrain_model,
    model_config,
)
from videomae.models.videomae import VideoMAEDecoder, VideoMAEEncoder, VideoMAEPretrain

__all__ = [
    "VideoMAEClassifier",
    "create_classifier",
    "MODEL_SIZES",
    "ModelConfig",
    "PRETRAINING_ONLY",
    "VideoMAEDecoder",
    "VideoMAEEncoder",
    "VideoMAEPretrain",
    "create_pretrain_model",
    "model_config",
]
