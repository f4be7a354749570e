"""Kinetics-400 as downloaded: the CSV lists (`label,youtube_id,time_start,time_end,split`) and
`<youtube_id>_<start:06d>_<end:06d>.mp4` videos per split."""

import csv
import os

from videomae.data.annotations import LIST_ENCODING, AnnotationError
from videomae.data.layouts.common import SPLITS, DatasetIndex, LayoutNotFound, index_videos

_K400_CSV = {
    "train": ("train.csv", "kinetics-400_train.csv", "kinetics_400_train.csv", "kinetics_train.csv"),
    "val": ("validate.csv", "val.csv", "validation.csv", "kinetics-400_val.csv", "kinetics_400_val.csv",
            "kinetics_val.csv"),
    "test": ("test.csv", "kinetics-400_test.csv", "kinetics_400_test.csv", "kinetics_test.csv"),
}  # fmt: skip
_K400_DIRS = {
    "train": ("train", "videos_train", "train_256", "kinetics400_train", "videos/train"),
    "val": ("val", "validate", "validation", "videos_val", "val_256", "kinetics400_val", "videos/val"),
    "test": ("test", "videos_test", "test_256", "kinetics400_test", "videos/test"),
}


def is_k400_csv(path: str) -> bool:
    with open(path, encoding=LIST_ENCODING, errors="replace") as f:
        header = f.readline()
    return "youtube_id" in header


def _k400_csv(root: str, split: str) -> str | None:
    for hint in (
        "annotations",
        "kinetics400",
        "k400",
        "kinetics-400",
        "kinetics400_annotations",
        "lists",
        "",
    ):
        for name in _K400_CSV[split]:
            path = os.path.join(root, hint, name)
            if os.path.isfile(path) and is_k400_csv(path):
                return path
    return None


def _pick(paths: list[str] | None, label: str, directory: str, stem: str) -> str:
    """The video of a CSV row: of the files with its stem, the one in the folder of its label
    (a clip listed under two labels sits in both class folders; spaces may be underscores)."""
    if not paths:
        return os.path.join(directory, stem + ".mp4")
    folders = {label, label.replace(" ", "_")}
    return next((p for p in paths if os.path.basename(os.path.dirname(p)) in folders), paths[0])


def k400(root: str) -> DatasetIndex:
    """CSV files `label,youtube_id,time_start,time_end,split` (train.csv, validate.csv, test.csv,
    often in annotations/); videos `<youtube_id>_<start:06d>_<end:06d>.mp4` under train/, val/
    (flat or in class folders). Classes: the sorted labels of train.csv."""
    csv_files = {s: _k400_csv(root, s) for s in SPLITS}
    if csv_files["train"] is None:
        raise LayoutNotFound(f"no Kinetics train.csv (with a youtube_id column) under {root}")
    rows = {}
    for split_name, path in csv_files.items():
        if path is None:
            continue
        out = []
        with open(path, encoding=LIST_ENCODING, errors="replace", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or ())
            if missing:
                raise AnnotationError(f"{path}:1: header lacks {', '.join(sorted(missing))}")
            if "label" not in (reader.fieldnames or ()):
                if split_name == "train":
                    raise AnnotationError(f"{path}:1: header lacks label")
                continue  # an unlabeled test list: evaluate on the validation split instead
            for row in reader:
                number = reader.line_num
                try:
                    start, end = int(float(row["time_start"])), int(float(row["time_end"]))
                    stem = f"{row['youtube_id']}_{start:06d}_{end:06d}"
                except (TypeError, ValueError):
                    raise AnnotationError(
                        f"{path}:{number}: cannot read youtube_id, time_start, time_end"
                    ) from None
                if not row["label"]:
                    raise AnnotationError(f"{path}:{number}: empty label")
                out.append((stem, row["label"], number))
        rows[split_name] = (path, out)
    names = sorted({label for _, label, _ in rows["train"][1]})
    label_of = {name: i for i, name in enumerate(names)}
    splits = {}
    notes: list[str] = []
    for split_name, (path, out) in rows.items():
        dirs = [os.path.join(root, hint) for hint in _K400_DIRS[split_name]]
        directory = next((d for d in dirs if os.path.isdir(d)), None)
        if directory is None:
            if split_name == "test":
                continue  # test.csv without test videos: evaluate on the validation split
            directory = root  # flat: every video directly under root (or in class folders)
        videos = index_videos(directory, notes)
        samples = []
        for stem, label, number in out:
            if label not in label_of:
                raise AnnotationError(
                    f"{path}:{number}: label {label!r} is not a class of {csv_files['train']}"
                )
            samples.append((_pick(videos.get(stem), label, directory, stem), label_of[label]))
        splits[split_name] = samples
    splits.setdefault("val", [])
    splits.setdefault("test", splits["val"])
    return DatasetIndex(splits, names, source=csv_files["train"], notes=notes)
