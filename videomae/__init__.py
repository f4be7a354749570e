"""VideoMAE: masked video autoencoders for self-supervised pre-training."""

try:  # registers ${model_size:...} for the configs; without OmegaConf there are no configs to read
    import videomae.config.resolvers  # noqa: F401
except ImportError:  # the model, training and perf code still import (scripts/gpu_check.sh)
    pass
from videomae.checkpoints import (
    LoadReport,
    export_hf,
    export_original,
    export_ours,
    load_weights,
    model_from_checkpoint,
)
from videomae.models import (
    MODEL_SIZES,
    VideoMAEClassifier,
    VideoMAEPretrain,
    create_classifier,
    create_pretrain_model,
)

__all__ = [
    "MODEL_SIZES",
    "LoadReport",
    "VideoMAEClassifier",
    "VideoMAEPretrain",
    "create_classifier",
    "create_pretrain_model",
    "export_hf",
    "export_original",
    "export_ours",
    "load_weights",
    "model_from_checkpoint",
]
