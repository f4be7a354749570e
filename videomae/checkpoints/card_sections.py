"""The sections of a model card, each from the training record (`videomae.checkpoints.record`).

A field the record does not have says so on the card; nothing is typed by hand. Every value from
the record or the data (class names are folder names) goes through `text` or `code`: the Hub
renders the card as Markdown with HTML, so a name must not end a table cell, start a link or
inject a tag. Local paths are shortened by `public_path`: the card is published, the machine's
directories are not its business.
"""

import html
import os
import re

# Markdown's inline syntax (emphasis, code, links, tables, strikethrough) and backslash itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Bidirectional embeddings, overrides and isolates: one would show the rest of its line reversed.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _one_line(value) -> str:
    line = _CONTROL.sub("", " ".join(str(value).split()))
    return _BIDI.sub(lambda m: f"U+{ord(m.group()):04X}", line)


def shortened(value, limit: int = 80) -> str:
    """A name as a list on the card shows it: its first `limit` characters (config.json keeps it whole)."""
    name = str(value)
    return name if len(name) <= limit else name[:limit] + "..."


def text(value) -> str:
    """A value as literal text in Markdown and HTML, on one line (table cells, list items)."""
    return html.escape(_MARKDOWN.sub(r"\\\1", _one_line(value)), quote=True)


def code(value) -> str:
    """A value as inline code: no backtick can close it early, no `|` can end a table cell."""
    return "`" + _one_line(value).replace("`", "'").replace("|", "\\|") + "`"


def public_path(value) -> str:
    """A local path as the card shows it: from the run directory on (`RUN/checkpoints/last.ckpt`),
    or its last part; a Hub id (`MCG-NJU/videomae-base`) as it is."""
    path = str(value)
    if not (os.path.isabs(path) or path.startswith(("~", "."))):
        return path
    parts = [part for part in path.split(os.sep) if part not in ("", ".", "..", "~")]
    if "checkpoints" in parts[1:]:
        at = len(parts) - 1 - parts[::-1].index("checkpoints")
        return "/".join(parts[at - 1 :])
    return parts[-1] if parts else path


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
    return DATASETS.get(name, (text(public_path(name)), None))


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
    planned = f" (trainer.max_epochs={text(max_epochs)})" if max_epochs is not None else ""
    epoch = record.get("epoch") or 0
    epoch = epoch + 1 if isinstance(epoch, int) else epoch
    return f"- length: {text(record.get('global_step'))} optimizer steps, up to epoch {text(epoch)}{planned}"


def _mask(mask: dict | None) -> str:
    if not mask or mask.get("ratio") is None:
        return "not recorded"
    return text(f"{mask.get('type') or 'tube'}, ratio {mask['ratio']}")


def pretraining_lines(record: dict, task: str) -> list[str]:
    if task == "pretrain":
        if not record:
            return ["Not recorded (converted from a file without a training record)."]
        cfg = record.get("config")

        def value(key: str) -> str:
            return text(config_value(cfg, key))

        return [
            f"- dataset: {dataset_names(config_value(cfg, 'data.name'))[0]}",
            _length(record, config_value(cfg, "trainer.max_epochs")),
            f"- masking: {_mask(record.get('mask') or config_value(cfg, 'mask'))}",
            f"- clips: {value('data.num_frames')} frames, sampling rate {value('data.sampling_rate')}",
            f"- optimizer: AdamW, base lr {value('optim.base_lr')} x batch / 256, "
            f"batch {value('data.batch_size')} per device",
        ]
    if not record:
        return ["Not recorded (converted from a file without a training record)."]
    pre = record.get("pretrained")
    if pre is None:
        return ["None: fine-tuned from random initialisation (`pretrained=null`)."]
    layout = f" ({text(pre['layout'])} layout)" if "layout" in pre else ""
    lines = [f"- from: {code(public_path(pre.get('checkpoint')))}{layout}"]
    if "dataset" in pre:
        lines.append(f"- dataset: {dataset_names(pre['dataset'])[0]}")
    if "global_step" in pre:
        lines.append(_length(pre, pre.get("max_epochs")))
    elif "max_epochs" in pre:
        lines.append(f"- length: {text(pre['max_epochs'])} epochs")
    if "mask" in pre:
        lines.append(f"- masking: {_mask(pre['mask'])}")
    if len(lines) == 1:
        lines.append("- no further details recorded in that checkpoint")
    return lines


def finetuning_lines(record: dict) -> list[str]:
    cfg = record.get("config")
    if not cfg:
        return ["Not recorded (converted from a file without a training record)."]

    def value(key: str) -> str:
        return text(config_value(cfg, key))

    data = cfg.get("data") or {}
    split = f", split {value('data.split')}" if data.get("name") in ("ucf101", "hmdb51") else ""
    per_class = (
        f", {value('data.train_per_class')} labeled videos per class" if data.get("train_per_class") else ""
    )
    ema = f", EMA {value('ema.decay')}" if config_value(cfg, "ema.enabled") else ""
    rate = f" rate {value('data.sampling_rate')}" if data.get("sampling") == "dense" else ""
    return [
        f"- dataset: {dataset_names(data.get('name'))[0]}{split}{per_class}",
        _length(record, config_value(cfg, "trainer.max_epochs")),
        f"- clips: {value('data.num_frames')} frames, {value('data.sampling')} sampling{rate}, "
        f"{value('data.input_size')} px, flip {value('data.flip')}",
        f"- optimizer: AdamW, base lr {value('optim.base_lr')} x batch / 256, layer decay "
        f"{value('optim.layer_decay')}, weight decay {value('optim.weight_decay')}, "
        f"{value('optim.warmup_epochs')} warm-up epochs, batch {value('data.batch_size')} per device",
        f"- regularisation: drop path {value('model.drop_path_rate')}, "
        f"mixup {value('mixup.mixup_alpha')}, cutmix {value('mixup.cutmix_alpha')}, "
        f"label smoothing {value('mixup.label_smoothing')}, RandAugment "
        f"{code(config_value(cfg, 'data.augment.rand_augment'))}, "
        f"random erasing {value('data.augment.erase_prob')}{ema}",
    ]


def evaluation_lines(evaluation: dict | None) -> list[str]:
    if not evaluation:
        return [
            "No evaluation of this checkpoint was recorded; `python scripts/evaluate.py checkpoint=RUN_DIR` "
            "measures it (and a new export then carries the result)."
        ]
    views = evaluation["test_clips"] * evaluation["test_crops"]
    lines = [
        f"Measured by `scripts/evaluate.py` on the {text(evaluation.get('split', 'test'))} split of "
        f"{dataset_names(evaluation.get('dataset'))[0]}: {text(evaluation['videos'])} videos, "
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
