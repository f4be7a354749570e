from videomae.models.factory import MODEL_SIZES, create_pretrain_model, model_config
from videomae.models.videomae import VideoMAEDecoder, VideoMAEEncoder, VideoMAEPretrain

__all__ = [
    "MODEL_SIZES",
    "VideoMAEDecoder",
    "VideoMAEEncoder",
    "VideoMAEPretrain",
    "create_pretrain_model",
    "model_config",
]
