"""Something-Something-v2 as downloaded: `labels.json`, `train.json` / `validation.json`, `<id>.webm`."""

import json
import os

from videomae.data.annotations import LIST_ENCODING, AnnotationError
from videomae.data.layouts.common import DatasetIndex, LayoutNotFound, find_files, find_video_dir
from videomae.utils.errors import ConfigError


def _load_json(path: str):
    try:
        with open(path, encoding=LIST_ENCODING) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}:{err.lineno}: {err.msg}") from None


def _json_line(path: str, needle: str) -> int | str:
    """The line of `path` where `needle` first appears (for messages), else '?'."""
    with open(path, encoding=LIST_ENCODING, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if needle in line:
                return number
    return "?"


def ssv2(root: str) -> DatasetIndex:
    """`labels.json` ({template: index}), `train.json` / `validation.json` (entries with `id` and
    `template`); videos `<id>.webm` in 20bn-something-something-v2/."""
    found = find_files(root, "labels.json", ("", "labels", "annotations", "something-something-v2-labels"))
    if not found:
        raise LayoutNotFound(f"no labels.json under {root}")
    label_file = found[0]
    ann_dir = os.path.dirname(label_file)
    templates = _load_json(label_file)
    if not isinstance(templates, dict):
        raise AnnotationError(f"{label_file}:1: expected an object mapping templates to class indices")
    try:
        label_of = {name: int(index) for name, index in templates.items()}
    except (TypeError, ValueError):
        raise AnnotationError(f"{label_file}: class indices must be integers") from None
    names = [""] * len(label_of)
    for name, index in label_of.items():
        if not 0 <= index < len(names):
            raise AnnotationError(f"{label_file}:{_json_line(label_file, name)}: index {index} out of range")
        names[index] = name
    files = {"train": os.path.join(ann_dir, "train.json"), "val": os.path.join(ann_dir, "validation.json")}
    if not os.path.isfile(files["train"]):
        raise ConfigError(f"data.root={root}: {files['train']} does not exist (next to {label_file})")
    entries = {}
    for split_name, path in files.items():
        if not os.path.isfile(path):
            continue
        items = _load_json(path)
        if not isinstance(items, list):
            raise AnnotationError(f"{path}:1: expected a list of videos")
        out = []
        for item in items:
            vid = item.get("id") if isinstance(item, dict) else None
            # `template` ("Holding [something]") names the class; fall back on `label` without it
            template = (item.get("template") or item.get("label")) if isinstance(item, dict) else None
            if vid is None or not isinstance(template, str):
                needle = f'"{vid}"' if vid is not None else str(item)[:40]
                line = _json_line(path, needle)
                raise AnnotationError(
                    f"{path}:{line}: entry needs 'id' and 'template', got {str(item)[:120]}"
                )
            template = template.replace("[", "").replace("]", "")
            if template not in label_of:
                line = _json_line(path, f'"{vid}"')
                raise AnnotationError(f"{path}:{line}: template {template!r} is not in {label_file}")
            out.append((str(vid), label_of[template]))
        entries[split_name] = out
    probe = [f"{vid}.webm" for vid, _ in entries["train"][:5]]
    video_dir = find_video_dir(root, ("20bn-something-something-v2", "videos", ""), probe)
    ext = ".webm"
    if entries["train"] and not any(os.path.exists(os.path.join(video_dir, p)) for p in probe):
        for candidate in (".mp4", ".mkv", ".avi"):
            if os.path.exists(os.path.join(video_dir, entries["train"][0][0] + candidate)):
                ext = candidate
                break
    splits = {
        s: [(os.path.join(video_dir, vid + ext), label) for vid, label in e] for s, e in entries.items()
    }
    splits.setdefault("val", [])
    splits["test"] = splits["val"]
    return DatasetIndex(splits, names, source=f"{label_file}, {files['train']}")
