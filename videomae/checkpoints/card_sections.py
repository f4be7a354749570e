"""The sections of a model card, each from the training record (`videomae.checkpoints.record`).

A field the record does not have says so on the card; nothing is typed by hand.
"""

# Hub dataset ids for the `datasets:` card field, and the names a reader knows them by.
DATASETS = {
    "k400": ("Kinetics-400", "kinetics400"),
    "ssv2": ("Something-Something V2", "something_something_v2"),
    "ucf101": ("UCF101", "ucf101"),
    "hmdb51": ("HMDB51", "hmdb51"),
    "synthetic": ("the framework's synthetic motion demo (8 classes)", None),
    "folder": ("a folder of videos (class sub-folders)", None),
}


def dataset_names(name: str | None) -> tuple[str, str | None]:
    """(the name a reader knows, the hub dataset id or None) of a `data.name`."""
    if not name:
        return "an unrecorded dataset", None
    return DATASETS.get(name, (name, None))


def config_value(cfg: dict | None, dotted: str, default=None):
    """`cfg["a"]["b"]` for "a.b", or `default` where the recorded config lacks it."""
    node = cfg or {}
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def sampling_note(cfg: dict | None, num_frames: int) -> str:
    """How the run sampled its clips, when that differs from the pipeline's even spread."""
    sampling = config_value(cfg, "data.sampling")
    if sampling == "dense":
        rate = config_value(cfg, "data.sampling_rate")
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


def pretraining_lines(record: dict, task: str) -> list[str]:
    if task == "pretrain":
        if not record:
            return ["Not recorded (converted from a file without a training record)."]
        cfg = record.get("config")
        return [
            f"- dataset: {dataset_names(config_value(cfg, 'data.name'))[0]}",
            _length(record, config_value(cfg, "trainer.max_epochs")),
            f"- masking: {_mask(record.get('mask') or config_value(cfg, 'mask'))}",
            f"- clips: {config_value(cfg, 'data.num_frames')} frames, "
            f"sampling rate {config_value(cfg, 'data.sampling_rate')}",
            f"- optimizer: AdamW, base lr {config_value(cfg, 'optim.base_lr')} x batch / 256, "
            f"batch {config_value(cfg, 'data.batch_size')} per device",
        ]
    if not record:
        return ["Not recorded (converted from a file without a training record)."]
    pre = record.get("pretrained")
    if pre is None:
        return ["None: fine-tuned from random initialisation (`pretrained=null`)."]
    lines = [f"- from: `{pre.get('checkpoint')}`" + (f" ({pre['layout']} layout)" if "layout" in pre else "")]
    if "dataset" in pre:
        lines.append(f"- dataset: {dataset_names(pre['dataset'])[0]}")
    if "global_step" in pre:
        lines.append(_length(pre, pre.get("max_epochs")))
    elif "max_epochs" in pre:
        lines.append(f"- length: {pre['max_epochs']} epochs")
    if "mask" in pre:
        lines.append(f"- masking: {_mask(pre['mask'])}")
    if len(lines) == 1:
        lines.append("- no further details recorded in that checkpoint")
    return lines


def finetuning_lines(record: dict) -> list[str]:
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
        f"- dataset: {dataset_names(data.get('name'))[0]}{split}{per_class}",
        _length(record, config_value(cfg, "trainer.max_epochs")),
        f"- clips: {data.get('num_frames')} frames, {data.get('sampling')} sampling"
        + (f" rate {data.get('sampling_rate')}" if data.get("sampling") == "dense" else "")
        + f", {data.get('input_size')} px, flip {data.get('flip')}",
        f"- optimizer: AdamW, base lr {optim.get('base_lr')} x batch / 256, layer decay "
        f"{optim.get('layer_decay')}, weight decay {optim.get('weight_decay')}, "
        f"{optim.get('warmup_epochs')} warm-up epochs, batch {data.get('batch_size')} per device",
        f"- regularisation: drop path {config_value(cfg, 'model.drop_path_rate')}, "
        f"mixup {mix.get('mixup_alpha')}, "
        f"cutmix {mix.get('cutmix_alpha')}, label smoothing {mix.get('label_smoothing')}, RandAugment "
        f"`{config_value(cfg, 'data.augment.rand_augment')}`, "
        f"random erasing {config_value(cfg, 'data.augment.erase_prob')}"
        + (f", EMA {ema.get('decay')}" if ema.get("enabled") else ""),
    ]


def evaluation_lines(evaluation: dict | None) -> list[str]:
    if not evaluation:
        return [
            "No evaluation of this checkpoint was recorded; `python scripts/evaluate.py checkpoint=RUN_DIR` "
            "measures it (and a new export then carries the result)."
        ]
    views = evaluation["test_clips"] * evaluation["test_crops"]
    lines = [
        f"Measured by `scripts/evaluate.py` on the {evaluation.get('split', 'test')} split of "
        f"{dataset_names(evaluation.get('dataset'))[0]}: {evaluation['videos']} videos, "
        f"{evaluation['test_clips']} clips x {evaluation['test_crops']} crops = {views} views per video, "
        f"softmax averaged{' (EMA weights)' if evaluation.get('ema') else ''}.",
        "",
        "| top-1 | top-5 | mean class |",
        "|---|---|---|",
        f"| {evaluation['top1']:.2f}% | {evaluation['top5']:.2f}% | {evaluation['mean_class']:.2f}% |",
    ]
    return lines


def usage_lines(task: str, num_frames: int, height: int, width: int) -> list[str]:
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
