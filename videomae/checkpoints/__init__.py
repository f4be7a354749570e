"""Checkpoints that travel: load every supported layout, export to transformers and the original code."""

from videomae.checkpoints.export import export_hf, export_original, export_ours
from videomae.checkpoints.load import LoadReport, load_weights, model_from_checkpoint
from videomae.checkpoints.spec import build_model, describe_model

__all__ = [
    "LoadReport",
    "build_model",
    "describe_model",
    "export_hf",
    "export_original",
    "export_ours",
    "load_weights",
    "model_from_checkpoint",
]
