"""The model card (README.md) of an export: metadata header, the model, its training and evaluation,
usage and citation."""

from dataclasses import dataclass
from typing import cast

import yaml

from videomae.checkpoints.card_sections import (
    code,
    config_value,
    dataset_names,
    evaluation_lines,
    finetuning_lines,
    pretraining_lines,
    sampling_note,
    shortened,
    text,
    usage_lines,
)
from videomae.models.videomae import as_pair
from videomae.utils.pixels import IMAGENET_MEAN, IMAGENET_STD, resolve_stats

PAPER = "https://arxiv.org/abs/2203.12602"
CITATION = """@inproceedings{tong2022videomae,
  title     = {VideoMAE: Masked Autoencoders are Data-Efficient Learners for
               Self-Supervised Video Pre-Training},
  author    = {Tong, Zhan and Song, Yibing and Wang, Jue and Wang, Limin},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2022},
  url       = {https://arxiv.org/abs/2203.12602}
}"""


def _yaml_header(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=200) + "---\n"


@dataclass
class _Facts:
    """What the card's parts share, read once from the export's spec and training record."""

    kwargs: dict
    task: str
    record: dict
    cfg: dict | None
    model_name: str | None
    height: int
    width: int
    data_key: str | None
    data_title: str | None
    data_id: str | None

    @classmethod
    def read(cls, spec: dict, record: dict | None) -> "_Facts":
        record = record or {}
        cfg = record.get("config")
        model_name = config_value(cfg, "model.name") or (record.get("pretrained") or {}).get("model")
        height, width = as_pair(spec["kwargs"]["img_size"])
        data_key = config_value(cfg, "data.name")
        data_title, data_id = dataset_names(data_key) if cfg else (None, None)
        return cls(
            spec["kwargs"],
            spec["task"],
            record,
            cfg,
            model_name,
            height,
            width,
            data_key,
            data_title,
            data_id,
        )

    @property
    def classification(self) -> bool:
        return self.task == "classification"


def model_card(spec: dict, num_params: int, record: dict | None = None, license: str | None = None) -> str:
    """README.md for an export: metadata header, the model, its training and evaluation, usage, citation."""
    facts = _Facts.read(spec, record)
    k, task, record = facts.kwargs, facts.task, facts.record
    lines = [_yaml_header(_metadata(facts, license)), *_model_lines(facts, num_params, spec)]
    lines += ["", "## Pre-training", ""]
    lines += pretraining_lines(record, task)
    if facts.classification:
        lines += ["", "## Fine-tuning", ""]
        lines += finetuning_lines(record)
        lines += ["", "## Evaluation", ""]
        lines += evaluation_lines(record.get("evaluation"))
    lines += ["", "## How to use", ""]
    lines += usage_lines(task, k["num_frames"], facts.height, facts.width)
    lines += _closing_lines(facts, license)
    return "\n".join(lines)


def _metadata(facts: _Facts, license: str | None) -> dict:
    """The card's YAML header: what the hub indexes (task, tags, datasets, measured accuracy)."""
    record, evaluation = facts.record, facts.record.get("evaluation")
    meta: dict = {"library_name": "transformers", "license": license or "other"}
    if facts.classification:
        meta["pipeline_tag"] = "video-classification"
    meta["tags"] = ["video-classification" if facts.classification else "self-supervised-learning"]
    meta["tags"] += ["videomae", "vision", "video", "videomae-framework"]
    pretrained_id = dataset_names((record.get("pretrained") or {}).get("dataset"))[1]
    datasets = [d for d in (facts.data_id, pretrained_id) if d]
    if datasets:
        meta["datasets"] = sorted(set(datasets))
    if facts.classification:
        meta["metrics"] = ["accuracy"]
    if evaluation:
        meta["model-index"] = [_model_index(facts, evaluation)]
    return meta


def _model_index(facts: _Facts, evaluation: dict) -> dict:
    views = f"{evaluation['test_clips']} clips x {evaluation['test_crops']} crops"
    return {
        "name": f"videomae-{facts.model_name or 'vit'}-{facts.data_key}",
        "results": [
            {
                "task": {"type": "video-classification", "name": "Video Classification"},
                "dataset": {
                    "name": facts.data_title,
                    "type": facts.data_id or facts.data_key,
                    "split": evaluation.get("split", "test"),
                },
                "metrics": [
                    {
                        "type": "accuracy",
                        "name": f"{key} ({views})",
                        "value": round(evaluation[key], 2),
                    }
                    for key in ("top1", "top5")
                ],
            }
        ],
    }


def _model_lines(facts: _Facts, num_params: int, spec: dict) -> list[str]:
    """The title, what the model is and how it was made, and the table of its shape."""
    labels = cast(list[str], spec.get("labels"))  # a classifier's spec has them
    k, task, record, model_name = facts.kwargs, facts.task, facts.record, facts.model_name
    height, width = facts.height, facts.width
    tokens = (k["num_frames"] // k["tubelet_size"]) * (height // k["patch_size"]) * (width // k["patch_size"])
    arch = "VideoMAEForVideoClassification" if task == "classification" else "VideoMAEForPreTraining"
    patch = k["patch_size"]
    lines = [
        f"# {_title(facts)}",
        "",
        "A VideoMAE model ([Tong et al., NeurIPS 2022](" + PAPER + ")): a vanilla ViT encoder over "
        "space-time tubes, "
        + (
            "trained for action recognition from random initialisation (no pre-training)."
            if task == "classification" and "pretrained" in record and record["pretrained"] is None
            else "pre-trained as a masked autoencoder of video"
            + (", then fine-tuned for action recognition." if task == "classification" else ".")
        ),
        "Written by the videomae framework (`scripts/convert.py --to hf`); every value below comes "
        "from the run's recorded configuration and measurements.",
        "",
        "## Model",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {arch}"
        + (f" ({code(model_name)})" if model_name else "")
        + f", {k['embed_dim']} wide, {k['depth']} blocks, {k['num_heads']} heads, "
        f"{num_params / 1e6:.1f}M parameters |",
        f"| input | {k['num_frames']} frames x {height} x {width} px, "
        f"{'RGB' if k.get('in_chans', 3) == 3 else str(k['in_chans']) + ' channels'} |",
        f"| tokens | tubelet {k['tubelet_size']}, patch {patch} x {patch}: {tokens} tokens |",
    ]
    if task == "classification":
        shown = ", ".join(text(shortened(name)) for name in labels[:10]) + (
            f", ... ({len(labels)} in all)" if len(labels) > 10 else ""
        )
        named = not all(name == f"LABEL_{i}" for i, name in enumerate(labels))
        lines += [
            "| head | mean pooling, LayerNorm, linear |",
            f"| classes | {k['num_classes']}"
            + (f": {shown}" if named else " (no class names recorded)")
            + " |",
        ]
    else:
        lines.append(
            f"| decoder | {k['decoder_embed_dim']} wide, {k['decoder_depth']} blocks, "
            f"{k['decoder_num_heads']} heads |"
        )
    return lines


def _title(facts: _Facts) -> str:
    size = f"ViT ({text(facts.model_name)})" if facts.model_name else "ViT"
    data = facts.data_title
    if facts.classification:
        return f"VideoMAE {size} fine-tuned on {data}" if facts.cfg else f"VideoMAE {size} video classifier"
    return f"VideoMAE {size} pre-trained on {data}" if facts.cfg else f"VideoMAE {size}, pre-trained"


def _closing_lines(facts: _Facts, license: str | None) -> list[str]:
    """Preprocessing, transformers' numerics, license and citation."""
    k, task, cfg, height, width = facts.kwargs, facts.task, facts.cfg, facts.height, facts.width
    channels = k.get("in_chans", 3)
    mean, std = resolve_stats(channels, k.get("pixel_mean"), k.get("pixel_std"))
    stats = (
        f"the ImageNet mean {list(IMAGENET_MEAN)} and std {list(IMAGENET_STD)}"
        if (mean, std) == (IMAGENET_MEAN, IMAGENET_STD)
        else f"the mean {list(mean)} and std {list(std)} of its {channels}-channel input"
    )
    return [
        "",
        f"Preprocessing (in `preprocessor_config.json`): short side resized to {max(height, width)} px "
        f"(bilinear), centre crop {height} x {width}, pixels / 255, normalised with "
        f"{stats}, as the model was trained. The pipeline "
        f"samples {k['num_frames']} frames evenly over the whole video" + sampling_note(cfg, k["num_frames"]),
        "",
        "Note: transformers computes "
        + ("`fc_norm`" if task == "classification" else "`decoder.norm`")
        + " with LayerNorm eps 1e-5 (fixed in its code) where the original code and the framework "
        "use 1e-6, so outputs differ slightly (about 1e-5 relative).",
        "",
        "## License",
        "",
        f"{code(license)}."
        if license
        else "Not set by the training run (`license: other`): set it, and "
        "check the terms of the training data, before sharing. The paper's released weights use "
        "CC-BY-NC-4.0.",
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
