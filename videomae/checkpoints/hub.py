"""What makes an export a Hugging Face model repository beyond its weights: the processor configs,
the model card, and the training record they are written from.

The record is read from our Lightning checkpoints (their hyper-parameters carry the run's config,
class names and where the encoder came from), the run directory's `.hydra/config.yaml` and the
`eval/metrics.json` that `scripts/evaluate.py` writes. Nothing on a card is typed by hand: a field
the record does not have says so.
"""

import json
import os
from pathlib import Path

import torch
import yaml

from videomae.checkpoints.io import SAFE_GLOBALS
from videomae.models.videomae import as_pair
from videomae.pixels import IMAGENET_MEAN, IMAGENET_STD

# Hub dataset ids for the `datasets:` card field, and the names a reader knows them by.
DATASETS = {
    "k400": ("Kinetics-400", "kinetics400"),
    "ssv2": ("Something-Something V2", "something_something_v2"),
    "ucf101": ("UCF101", "ucf101"),
    "hmdb51": ("HMDB51", "hmdb51"),
    "synthetic": ("the framework's synthetic motion demo (8 classes)", None),
    "folder": ("a folder of videos (class sub-folders)", None),
}
PAPER = "https://arxiv.org/abs/2203.12602"
CITATION = """@inproceedings{tong2022videomae,
  title     = {VideoMAE: Masked Autoencoders are Data-Efficient Learners for
               Self-Supervised Video Pre-Training},
  author    = {Tong, Zhan and Song, Yibing and Wang, Jue and Wang, Limin},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2022},
  url       = {https://arxiv.org/abs/2203.12602}
}"""
EVAL_METRICS = "metrics.json"  # in the run's eval/ directory, next to predictions.csv


# --- processor configs ----------------------------------------------------------------------------


def preprocessor_configs(spec: dict) -> dict[str, dict]:
    """`preprocessor_config.json` (VideoMAEImageProcessor) and `video_preprocessor_config.json`
    (VideoMAEVideoProcessor, which pipeline("video-classification") uses), for the model as trained.

    The framework's test view: short side resized to the model's size (bilinear, antialiased),
    centre crop, /255, ImageNet mean and std. transformers' own VideoMAE defaults differ (mean and
    std 0.5), so every value is written out.
    """
    k = spec["kwargs"]
    height, width = as_pair(k["img_size"])
    common = {
        "do_resize": True,
        # The crop must fit whichever way the video is oriented: the short side covers both sides.
        "size": {"shortest_edge": max(height, width)},
        "resample": 2,  # PIL's BILINEAR, as torchvision's resize in videomae.data.transforms
        "do_center_crop": True,
        "crop_size": {"height": height, "width": width},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
        "do_convert_rgb": True,
    }
    return {
        "preprocessor_config.json": {"image_processor_type": "VideoMAEImageProcessor", **common},
        "video_preprocessor_config.json": {
            "video_processor_type": "VideoMAEVideoProcessor",
            "num_frames": k["num_frames"],  # what the pipeline samples, evenly over the video
            **common,
        },
    }


# --- the training record --------------------------------------------------------------------------


def resolve_run(path: str | Path) -> Path:
    """A run directory means its checkpoints/last.ckpt; anything else is returned as it is."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_dir() and (path / "checkpoints" / "last.ckpt").is_file():
        return path / "checkpoints" / "last.ckpt"
    return path


def _run_dir(ckpt: Path) -> Path:
    parent = ckpt.resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def _load_torch(path: Path):
    """weights_only, as every checkpoint read here: no code from the file runs."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):  # the original's argparse options
        try:  # mmap: only the few metadata entries are read, not gigabytes of weights
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a file of the legacy (non-zip) format cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)


def _hydra_config(run_dir: Path) -> dict | None:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _lightning(path: Path) -> dict | None:
    """Our Lightning checkpoint's contents (weights memory-mapped), or None for anything else."""
    if not path.is_file() or path.suffix in (".safetensors", ".json"):
        return None
    try:
        obj = _load_torch(path)
    except Exception:  # noqa: BLE001 - not ours to read here; the loader reports a broken file
        return None
    if isinstance(obj, dict) and isinstance(obj.get("hyper_parameters"), dict):
        return obj
    return None


def pretraining_record(path: str | None) -> dict | None:
    """Where a fine-tuned encoder came from: the checkpoint and what its pre-training run recorded.

    None when fine-tuning started from scratch. Recorded in the fine-tuning checkpoint at start-up,
    so the card still knows after the pre-training run directory has moved.
    """
    if path in (None, "", "null"):
        return None
    ckpt = resolve_run(path)
    record: dict = {"checkpoint": str(path)}
    obj = _lightning(ckpt)
    if obj is not None:
        hp = obj["hyper_parameters"]
        cfg = _hydra_config(_run_dir(ckpt)) or {}
        record.update(
            layout="lightning",
            model=(hp.get("model") or {}).get("name"),
            mask=hp.get("mask"),
            global_step=obj.get("global_step"),
            epoch=obj.get("epoch"),
            max_epochs=(cfg.get("trainer") or {}).get("max_epochs"),
            dataset=(cfg.get("data") or {}).get("name"),
        )
    elif ckpt.is_dir():
        record["layout"] = "hf"
    elif ckpt.is_file() and ckpt.suffix in (".pth", ".pt", ".bin"):
        try:
            obj = _load_torch(ckpt)
        except Exception:  # noqa: BLE001 - loading the weights reports a broken file, clearly
            obj = None
        args = obj.get("args") if isinstance(obj, dict) else None
        args = vars(args) if args is not None and hasattr(args, "__dict__") else {}
        record["layout"] = "original"
        if args:  # the original code's argparse options
            record.update(
                model=args.get("model"),
                mask={"type": args.get("mask_type"), "ratio": args.get("mask_ratio")},
                max_epochs=args.get("epochs"),
                dataset=args.get("data_set") or args.get("data_path"),
            )
    return {k: v for k, v in record.items() if v is not None}


def training_record(path: str | Path, task: str | None = None) -> dict | None:
    """What one of our Lightning checkpoints (or run directories) says about its run, for the card.

    None for files of other layouts: their card describes only the model. `task`: the exported
    model's; a classifier built from a pre-training checkpoint has that run as its pre-training.
    """
    ckpt = resolve_run(path)
    obj = _lightning(ckpt)
    if obj is None:
        return None
    hp = obj["hyper_parameters"]
    run_dir = _run_dir(ckpt)
    stage = "finetune" if "num_classes" in hp else "pretrain"
    if stage == "pretrain" and task == "classification":
        return {"stage": "finetune", "config": None, "pretrained": pretraining_record(str(ckpt))}
    config = hp.get("config") if stage == "finetune" else None
    config = config or _hydra_config(run_dir)
    record = {
        "stage": stage,
        "checkpoint": ckpt.name,
        "global_step": obj.get("global_step"),
        "epoch": obj.get("epoch"),
        "config": config,
        "mask": hp.get("mask"),
        "classes": hp.get("classes"),
    }
    if stage == "finetune":
        pretrained = (config or {}).get("pretrained")
        if "pretrained_record" in hp:
            record["pretrained"] = hp["pretrained_record"]
        elif pretrained not in (None, "", "null"):  # checkpoints from before the record existed
            found = resolve_run(pretrained).exists()
            record["pretrained"] = pretraining_record(pretrained) if found else {"checkpoint": pretrained}
        else:
            record["pretrained"] = None
        record["evaluation"] = _evaluation(run_dir, ckpt.name, obj.get("global_step"))
    return record


def _evaluation(run_dir: Path, ckpt_name: str, step) -> dict | None:
    """eval/metrics.json, if it measured this checkpoint (same file, same step): a later run that
    rewrote last.ckpt makes an old evaluation stale."""
    path = run_dir / "eval" / EVAL_METRICS
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    if Path(metrics.get("checkpoint", "")).name != ckpt_name or metrics.get("global_step") != step:
        return None
    return metrics


# --- the model card -------------------------------------------------------------------------------


def _dataset(name: str | None) -> tuple[str, str | None]:
    if not name:
        return "an unrecorded dataset", None
    return DATASETS.get(name, (name, None))


def _yaml_header(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=200) + "---\n"


def _get(cfg: dict | None, dotted: str, default=None):
    node = cfg or {}
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def model_card(spec: dict, num_params: int, record: dict | None = None, license: str | None = None) -> str:
    """README.md for an export: metadata header, the model, its training and evaluation, usage, citation."""
    k = spec["kwargs"]
    task = spec["task"]
    record = record or {}
    cfg = record.get("config")
    model_name = _get(cfg, "model.name") or (record.get("pretrained") or {}).get("model")
    height, width = as_pair(k["img_size"])
    tokens = (k["num_frames"] // k["tubelet_size"]) * (height // k["patch_size"]) * (width // k["patch_size"])
    data_key = _get(cfg, "data.name")
    data_title, data_id = _dataset(data_key) if cfg else (None, None)
    evaluation = record.get("evaluation")
    labels = spec.get("labels")

    meta: dict = {"library_name": "transformers", "license": license or "other"}
    if task == "classification":
        meta["pipeline_tag"] = "video-classification"
    meta["tags"] = ["video-classification" if task == "classification" else "self-supervised-learning"]
    meta["tags"] += ["videomae", "vision", "video", "videomae-framework"]
    datasets = [d for d in (data_id, _dataset((record.get("pretrained") or {}).get("dataset"))[1]) if d]
    if datasets:
        meta["datasets"] = sorted(set(datasets))
    if task == "classification":
        meta["metrics"] = ["accuracy"]
    if evaluation:
        views = f"{evaluation['test_clips']} clips x {evaluation['test_crops']} crops"
        meta["model-index"] = [
            {
                "name": f"videomae-{model_name or 'vit'}-{data_key}",
                "results": [
                    {
                        "task": {"type": "video-classification", "name": "Video Classification"},
                        "dataset": {
                            "name": data_title,
                            "type": data_id or data_key,
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
        ]

    size = f"ViT ({model_name})" if model_name else "ViT"
    arch = "VideoMAEForVideoClassification" if task == "classification" else "VideoMAEForPreTraining"
    patch = k["patch_size"]
    if task == "classification":
        title = f"VideoMAE {size} fine-tuned on {data_title}" if cfg else f"VideoMAE {size} video classifier"
    else:
        title = f"VideoMAE {size} pre-trained on {data_title}" if cfg else f"VideoMAE {size}, pre-trained"
    lines = [
        _yaml_header(meta),
        f"# {title}",
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
        + (f" (`{model_name}`)" if model_name else "")
        + f", {k['embed_dim']} wide, {k['depth']} blocks, {k['num_heads']} heads, "
        f"{num_params / 1e6:.1f}M parameters |",
        f"| input | {k['num_frames']} frames x {height} x {width} px, RGB |",
        f"| tokens | tubelet {k['tubelet_size']}, patch {patch} x {patch}: {tokens} tokens |",
    ]
    if task == "classification":
        shown = ", ".join(labels[:10]) + (f", ... ({len(labels)} in all)" if len(labels) > 10 else "")
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
    lines += ["", "## Pre-training", ""]
    lines += _pretraining_lines(record, task)
    if task == "classification":
        lines += ["", "## Fine-tuning", ""]
        lines += _finetuning_lines(record)
        lines += ["", "## Evaluation", ""]
        lines += _evaluation_lines(evaluation)
    lines += ["", "## How to use", ""]
    lines += _usage_lines(task, k["num_frames"], height, width)
    lines += [
        "",
        f"Preprocessing (in `preprocessor_config.json`): short side resized to {max(height, width)} px "
        f"(bilinear), centre crop {height} x {width}, pixels / 255, normalised with the ImageNet mean "
        f"{list(IMAGENET_MEAN)} and std {list(IMAGENET_STD)}, as the model was trained. The pipeline "
        f"samples {k['num_frames']} frames evenly over the whole video"
        + _sampling_note(cfg, k["num_frames"]),
        "",
        "Note: transformers computes "
        + ("`fc_norm`" if task == "classification" else "`decoder.norm`")
        + " with LayerNorm eps 1e-5 (fixed in its code) where the original code and the framework "
        "use 1e-6, so outputs differ slightly (about 1e-5 relative).",
        "",
        "## License",
        "",
        f"`{license}`."
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
    return "\n".join(lines)


def _sampling_note(cfg: dict | None, num_frames: int) -> str:
    """How the run sampled its clips, when that differs from the pipeline's even spread."""
    sampling = _get(cfg, "data.sampling")
    if sampling == "dense":
        rate = _get(cfg, "data.sampling_rate")
        return (
            f"; the run trained and tested on clips of {num_frames} frames taken every {rate} frames, so "
            f"the two agree for videos of about {num_frames * rate} frames (for longer ones, cut clips "
            "of that length, as the multi-view test does)."
        )
    if sampling == "segment":
        return ", one frame from each of equal segments, as the run sampled its clips."
    return "."


def _length(record: dict, max_epochs) -> str:
    """Steps and epochs as the checkpoint recorded them (Lightning's epoch index counts from 0)."""
    planned = f" (trainer.max_epochs={max_epochs})" if max_epochs is not None else ""
    epoch = (record.get("epoch") or 0) + 1
    return f"- length: {record.get('global_step')} optimizer steps, up to epoch {epoch}{planned}"


def _mask(mask: dict | None) -> str:
    if not mask or mask.get("ratio") is None:
        return "not recorded"
    return f"{mask.get('type') or 'tube'}, ratio {mask['ratio']}"


def _pretraining_lines(record: dict, task: str) -> list[str]:
    if task == "pretrain":
        if not record:
            return ["Not recorded (converted from a file without a training record)."]
        cfg = record.get("config")
        return [
            f"- dataset: {_dataset(_get(cfg, 'data.name'))[0]}",
            _length(record, _get(cfg, "trainer.max_epochs")),
            f"- masking: {_mask(record.get('mask') or _get(cfg, 'mask'))}",
            f"- clips: {_get(cfg, 'data.num_frames')} frames, "
            f"sampling rate {_get(cfg, 'data.sampling_rate')}",
            f"- optimizer: AdamW, base lr {_get(cfg, 'optim.base_lr')} x batch / 256, "
            f"batch {_get(cfg, 'data.batch_size')} per device",
        ]
    if not record:
        return ["Not recorded (converted from a file without a training record)."]
    pre = record.get("pretrained")
    if pre is None:
        return ["None: fine-tuned from random initialisation (`pretrained=null`)."]
    lines = [f"- from: `{pre.get('checkpoint')}`" + (f" ({pre['layout']} layout)" if "layout" in pre else "")]
    if "dataset" in pre:
        lines.append(f"- dataset: {_dataset(pre['dataset'])[0]}")
    if "global_step" in pre:
        lines.append(_length(pre, pre.get("max_epochs")))
    elif "max_epochs" in pre:
        lines.append(f"- length: {pre['max_epochs']} epochs")
    if "mask" in pre:
        lines.append(f"- masking: {_mask(pre['mask'])}")
    if len(lines) == 1:
        lines.append("- no further details recorded in that checkpoint")
    return lines


def _finetuning_lines(record: dict) -> list[str]:
    cfg = record.get("config")
    if not cfg:
        return ["Not recorded (converted from a file without a training record)."]
    data = cfg.get("data") or {}
    split = f", split {data['split']}" if data.get("name") in ("ucf101", "hmdb51") else ""
    per_class = f", {data['train_per_class']} labeled videos per class" if data.get("train_per_class") else ""
    mix = cfg.get("mixup") or {}
    ema = cfg.get("ema") or {}
    optim = cfg.get("optim") or {}
    return [
        f"- dataset: {_dataset(data.get('name'))[0]}{split}{per_class}",
        _length(record, _get(cfg, "trainer.max_epochs")),
        f"- clips: {data.get('num_frames')} frames, {data.get('sampling')} sampling"
        + (f" rate {data.get('sampling_rate')}" if data.get("sampling") == "dense" else "")
        + f", {data.get('input_size')} px, flip {data.get('flip')}",
        f"- optimizer: AdamW, base lr {optim.get('base_lr')} x batch / 256, layer decay "
        f"{optim.get('layer_decay')}, weight decay {optim.get('weight_decay')}, "
        f"{optim.get('warmup_epochs')} warm-up epochs, batch {data.get('batch_size')} per device",
        f"- regularisation: drop path {_get(cfg, 'model.drop_path_rate')}, mixup {mix.get('mixup_alpha')}, "
        f"cutmix {mix.get('cutmix_alpha')}, label smoothing {mix.get('label_smoothing')}, RandAugment "
        f"`{_get(cfg, 'data.augment.rand_augment')}`, random erasing {_get(cfg, 'data.augment.erase_prob')}"
        + (f", EMA {ema.get('decay')}" if ema.get("enabled") else ""),
    ]


def _evaluation_lines(evaluation: dict | None) -> list[str]:
    if not evaluation:
        return [
            "No evaluation of this checkpoint was recorded; `python scripts/evaluate.py checkpoint=RUN_DIR` "
            "measures it (and a new export then carries the result)."
        ]
    views = evaluation["test_clips"] * evaluation["test_crops"]
    lines = [
        f"Measured by `scripts/evaluate.py` on the {evaluation.get('split', 'test')} split of "
        f"{_dataset(evaluation.get('dataset'))[0]}: {evaluation['videos']} videos, "
        f"{evaluation['test_clips']} clips x {evaluation['test_crops']} crops = {views} views per video, "
        f"softmax averaged{' (EMA weights)' if evaluation.get('ema') else ''}.",
        "",
        "| top-1 | top-5 | mean class |",
        "|---|---|---|",
        f"| {evaluation['top1']:.2f}% | {evaluation['top5']:.2f}% | {evaluation['mean_class']:.2f}% |",
    ]
    return lines


def _usage_lines(task: str, num_frames: int, height: int, width: int) -> list[str]:
    if task == "classification":
        return [
            "```python",
            "from transformers import pipeline",
            "",
            'classifier = pipeline("video-classification", model="PATH_OR_REPO")  # decodes with torchcodec',
            'print(classifier("video.mp4"))',
            "```",
            "",
            "or with the processor and the model:",
            "",
            "```python",
            "import numpy as np",
            "import torch",
            "from transformers import AutoImageProcessor, AutoModelForVideoClassification",
            "",
            'processor = AutoImageProcessor.from_pretrained("PATH_OR_REPO")',
            'model = AutoModelForVideoClassification.from_pretrained("PATH_OR_REPO")',
            f"video = list(np.random.randint(0, 256, ({num_frames}, {height}, {width}, 3), dtype=np.uint8))"
            "  # your RGB frames",
            'inputs = processor(video, return_tensors="pt")',
            "with torch.no_grad():",
            "    logits = model(**inputs).logits",
            "print(model.config.id2label[logits.argmax(-1).item()])",
            "```",
        ]
    return [
        "```python",
        "import numpy as np",
        "import torch",
        "from transformers import AutoImageProcessor, VideoMAEForPreTraining",
        "",
        'processor = AutoImageProcessor.from_pretrained("PATH_OR_REPO")',
        'model = VideoMAEForPreTraining.from_pretrained("PATH_OR_REPO")',
        f"video = list(np.random.randint(0, 256, ({num_frames}, {height}, {width}, 3), dtype=np.uint8))",
        'pixel_values = processor(video, return_tensors="pt").pixel_values',
        "num_patches = (model.config.num_frames // model.config.tubelet_size) * (",
        "    model.config.image_size // model.config.patch_size",
        ") ** 2",
        "bool_masked_pos = torch.zeros(1, num_patches, dtype=torch.bool)",
        "bool_masked_pos[:, : int(0.9 * num_patches)] = True",
        "loss = model(pixel_values, bool_masked_pos=bool_masked_pos).loss",
        "```",
        "",
        "The framework fine-tunes it directly: `python scripts/finetune.py pretrained=PATH_OR_REPO ...`.",
    ]
