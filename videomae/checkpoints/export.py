"""Writing a model for transformers, for the original code, or in our own format."""

import json
from pathlib import Path

from torch import nn

from videomae.checkpoints.card import model_card
from videomae.checkpoints.formats import SPEC_METADATA
from videomae.checkpoints.hf import hf_config, ours_to_hf
from videomae.checkpoints.io import save_json, save_safetensors, save_torch
from videomae.checkpoints.preprocessor import preprocessor_configs
from videomae.checkpoints.spec import describe_model
from videomae.utils.atomic_files import atomic_path


def _spec(model: nn.Module, labels: list[str] | None) -> dict:
    spec = describe_model(model)
    if labels is not None:
        if spec["task"] != "classification" or len(labels) != model.num_classes:
            raise ValueError(
                f"labels: expected {getattr(model, 'num_classes', 0)} class names, got {len(labels)}"
            )
        spec["labels"] = list(labels)
    return spec


def export_hf(
    model: nn.Module,
    out_dir: str | Path,
    labels: list[str] | None = None,
    record: dict | None = None,
    license: str | None = None,
) -> Path:
    """A transformers model directory: config.json, model.safetensors, preprocessor_config.json
    (and video_preprocessor_config.json, for pipelines) and a README.md model card.

    Loads with AutoImageProcessor plus VideoMAEForPreTraining / AutoModelForVideoClassification,
    or `pipeline("video-classification", model=out_dir)`. `record`: the training record the card
    is written from (videomae.checkpoints.record.training_record); without it the card describes
    only the model. Note that transformers computes decoder.norm and fc_norm with LayerNorm eps
    1e-5 (not configurable), where the original and this framework use 1e-6.
    """
    out_dir = Path(out_dir)
    spec = _spec(model, labels)
    config = hf_config(spec, next(model.parameters()).dtype)
    if spec["task"] == "classification":  # the card lists the names config.json carries (LABEL_i if none)
        spec = {**spec, "labels": [config["id2label"][str(i)] for i in range(len(config["id2label"]))]}
    state = ours_to_hf(model.state_dict(), on_disk=True)
    save_safetensors(state, out_dir / "model.safetensors", metadata={"format": "pt"})
    for stale in ("pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (out_dir / stale).exists():  # transformers might prefer an older export's weights
            (out_dir / stale).unlink()
    for name, processor in preprocessor_configs(spec).items():
        save_json(processor, out_dir / name)
    card = model_card(spec, sum(p.numel() for p in model.parameters()), record, license)
    with atomic_path(out_dir / "README.md") as tmp:
        Path(tmp).write_text(card, encoding="utf-8")
    save_json(config, out_dir / "config.json")  # last: a directory with config.json is complete
    return out_dir


def export_original(model: nn.Module, path: str | Path) -> Path:
    """A `.pth` the original MCG-NJU code loads: `{"model": state_dict}` in its names."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if describe_model(model)["task"] == "classification":  # the fine-tuned layout has no encoder. prefix
        state = {k.removeprefix("encoder."): v for k, v in state.items()}
    save_torch({"model": state}, path)
    return Path(path)


def export_ours(model: nn.Module, path: str | Path, labels: list[str] | None = None) -> Path:
    """Our weights as safetensors, with the spec that rebuilds the model in the file's metadata."""
    spec = _spec(model, labels)
    save_safetensors(model.state_dict(), path, metadata={"format": "pt", SPEC_METADATA: json.dumps(spec)})
    return Path(path)
