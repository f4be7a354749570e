"""Datasets as they are downloaded: the official annotation layouts, and plain folders of videos.

Each reader returns a `DatasetIndex`: (path, label) lists per split ("train", "val", "test") and
the class names. Labels are 0-based; -1 marks an unlabeled video (a flat folder). Videos that are
listed but missing stay in the index: the loader skips them (and counts them), and
`scripts/prepare_dataset.py` reports them.
"""

import csv
import glob
import json
import os
from dataclasses import dataclass, field

from videomae.data.annotations import LIST_ENCODING, AnnotationError, is_path_label_list, read_list
from videomae.errors import ConfigError

VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv",
    ".ts", ".mts", ".m2ts", ".vob",
)  # fmt: skip
OFFICIAL = ("ucf101", "hmdb51", "ssv2", "k400")
SPLITS = ("train", "val", "test")


class LayoutNotFound(ConfigError):
    """The directory does not hold the layout asked for."""


@dataclass
class DatasetIndex:
    splits: dict[str, list[tuple[str, int]]]
    classes: list[str] | None = None
    source: str = ""  # the files the index was read from, for messages
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int | None:
        if self.classes is not None:
            return len(self.classes)
        labels = [label for samples in self.splits.values() for _, label in samples]
        return max(labels) + 1 if labels and max(labels) >= 0 else None


def is_video(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS) and not os.path.basename(name).startswith(".")


def _find(root: str, pattern: str, hints: tuple[str, ...]) -> list[str]:
    """Files matching `pattern` in root/<hint> for each hint, else anywhere two levels down."""
    for hint in hints:
        found = sorted(glob.glob(os.path.join(glob.escape(os.path.join(root, hint)), pattern)))
        if found:
            return found
    for depth in ("*", os.path.join("*", "*")):
        found = sorted(glob.glob(os.path.join(glob.escape(root), depth, pattern)))
        if found:
            return found
    return []


def _video_dir(root: str, hints: tuple[str, ...], probe: list[str]) -> str:
    """The directory under which the listed relative paths `probe` exist (the first hint that has
    any of them), else the first hint that exists, else root."""
    dirs = [os.path.join(root, hint) if hint else root for hint in hints]
    for d in dirs:
        if any(os.path.exists(os.path.join(d, p)) for p in probe):
            return d
    for d in dirs:
        if os.path.isdir(d):
            return d
    return root


def _read_lines(path: str):
    with open(path, encoding=LIST_ENCODING, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if line:
                yield number, line


# --- UCF101 -----------------------------------------------------------------------------------


def ucf101(root: str, split: int = 1) -> DatasetIndex:
    """`classInd.txt` (`1 ApplyEyeMakeup`), `trainlist0N.txt` (`Class/v_x.avi 1`) and
    `testlist0N.txt` (`Class/v_x.avi`), usually in ucfTrainTestlist/; videos in UCF-101/."""
    found = _find(root, "classInd.txt", ("", "ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask"))
    if not found:
        raise LayoutNotFound(f"no classInd.txt under {root}")
    class_file = found[0]
    ann_dir = os.path.dirname(class_file)
    classes: dict[int, str] = {}
    for number, line in _read_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{class_file}:{number}: expected 'index ClassName', got {line[:120]!r}")
        classes[int(parts[0])] = parts[1]
    base = min(classes, default=1)  # the official file counts from 1; accept 0 as well
    if base not in (0, 1) or sorted(classes) != list(range(base, base + len(classes))):
        raise AnnotationError(f"{class_file}: class indices must be 1..{len(classes)}")
    names = [classes[i] for i in range(base, base + len(classes))]
    by_name = {name.lower(): i for i, name in enumerate(names)}
    files = {
        "train": os.path.join(ann_dir, f"trainlist{split:02d}.txt"),
        "val": os.path.join(ann_dir, f"testlist{split:02d}.txt"),
    }
    for path in files.values():
        if not os.path.isfile(path):
            raise ConfigError(f"data.split={split}: {path} does not exist (UCF101 has splits 1, 2, 3)")
    entries = {s: [] for s in files}
    for split_name, path in files.items():
        for number, line in _read_lines(path):
            parts = line.split()
            if len(parts) not in (1, 2) or (len(parts) == 2 and not parts[1].lstrip("-").isdigit()):
                raise AnnotationError(
                    f"{path}:{number}: expected 'Class/video.avi [label]', got {line[:120]!r}"
                )
            rel = parts[0]
            if len(parts) == 2:
                label = int(parts[1]) - base
                if not 0 <= label < len(names):
                    raise AnnotationError(
                        f"{path}:{number}: label {parts[1]} is not in {class_file} "
                        f"({base}..{base + len(names) - 1})"
                    )
            else:
                class_name = rel.replace("\\", "/").split("/")[0].lower()
                if class_name not in by_name:
                    raise AnnotationError(f"{path}:{number}: class folder of {rel!r} is not in {class_file}")
                label = by_name[class_name]
            entries[split_name].append((rel, label))
    probe = [rel for rel, _ in entries["train"][:5]]
    video_dir = _video_dir(root, ("UCF-101", "UCF101", "videos", ""), probe)
    splits = {s: [(os.path.join(video_dir, rel), label) for rel, label in e] for s, e in entries.items()}
    splits["test"] = splits["val"]
    return DatasetIndex(splits, names, source=f"{class_file}, {files['train']}, {files['val']}")


# --- HMDB51 -----------------------------------------------------------------------------------


def hmdb51(root: str, split: int = 1) -> DatasetIndex:
    """`<class>_test_splitN.txt` files (`video.avi 1|2|0`: train, test, unused), usually in
    testTrainMulti_7030_splits/; videos in <class>/ folders. Classes in alphabetical order."""
    suffix = f"_test_split{split}.txt"
    files = _find(root, f"*{suffix}", ("", "testTrainMulti_7030_splits", "splits", "test_train_splits"))
    if not files:
        if _find(
            root, "*_test_split1.txt", ("", "testTrainMulti_7030_splits", "splits", "test_train_splits")
        ):
            raise ConfigError(
                f"data.split={split}: no *{suffix} files under {root} (HMDB51 has splits 1, 2, 3)"
            )
        raise LayoutNotFound(f"no *_test_split{split}.txt files under {root}")
    names = sorted(os.path.basename(f)[: -len(suffix)] for f in files)
    label_of = {name: i for i, name in enumerate(names)}
    entries = {"train": [], "val": []}
    for path in files:
        class_name = os.path.basename(path)[: -len(suffix)]
        for number, line in _read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(f"{path}:{number}: expected 'video.avi 0|1|2', got {line[:120]!r}")
            if parts[1] != "0":
                split_name = "train" if parts[1] == "1" else "val"
                entries[split_name].append((os.path.join(class_name, parts[0]), label_of[class_name]))
    probe = [rel for rel, _ in entries["train"][:5]]
    video_dir = _video_dir(root, ("hmdb51", "hmdb51_org", "videos", ""), probe)
    splits = {s: [(os.path.join(video_dir, rel), label) for rel, label in e] for s, e in entries.items()}
    splits["test"] = splits["val"]
    return DatasetIndex(splits, names, source=f"{os.path.dirname(files[0])}/*{suffix}")


# --- Something-Something-v2 -------------------------------------------------------------------


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
    found = _find(root, "labels.json", ("", "labels", "annotations", "something-something-v2-labels"))
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
    video_dir = _video_dir(root, ("20bn-something-something-v2", "videos", ""), probe)
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


# --- Kinetics-400 -----------------------------------------------------------------------------

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


def _index_videos(directory: str) -> dict[str, str]:
    """file stem -> path for every video under `directory` (class sub-folders or flat)."""
    index = {}
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if is_video(name):
                index.setdefault(os.path.splitext(name)[0], os.path.join(dirpath, name))
    return index


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
            if "label" not in reader.fieldnames:
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
    for split_name, (path, out) in rows.items():
        dirs = [os.path.join(root, hint) for hint in _K400_DIRS[split_name]]
        directory = next((d for d in dirs if os.path.isdir(d)), None)
        if directory is None:
            if split_name == "test":
                continue  # test.csv without test videos: evaluate on the validation split
            directory = root  # flat: every video directly under root (or in class folders)
        videos = _index_videos(directory)
        samples = []
        for stem, label, number in out:
            if label not in label_of:
                raise AnnotationError(
                    f"{path}:{number}: label {label!r} is not a class of {csv_files['train']}"
                )
            samples.append((videos.get(stem, os.path.join(directory, stem + ".mp4")), label_of[label]))
        splits[split_name] = samples
    splits.setdefault("val", [])
    splits.setdefault("test", splits["val"])
    return DatasetIndex(splits, names, source=csv_files["train"])


# --- any folder of videos ---------------------------------------------------------------------


def _scan(directory: str, classes: list[str] | None) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """Videos directly in `directory` are unlabeled (-1); each sub-folder holding videos (at any
    depth) is a class. Also returns notes on what was passed over: class folders without videos
    (empty or unreadable) and entries that cannot be read (dangling symlinks)."""
    samples, found, empty, broken = [], [], [], []
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file() and is_video(entry.name):
            samples.append((entry.path, -1))
        elif entry.is_dir():
            videos = sorted(_index_videos(entry.path).values())
            if videos:
                found.append(entry.name)
                samples.extend((path, entry.name) for path in videos)
            else:
                empty.append(entry.name)
        elif entry.is_symlink() and not os.path.exists(entry.path):
            broken.append(f"{entry.name} -> {os.readlink(entry.path)}")
    notes = []
    if empty:
        notes.append(
            f"{directory}: {len(empty)} folder(s) without videos (empty or unreadable) are not classes: "
            + ", ".join(empty[:10])
            + (" ..." if len(empty) > 10 else "")
        )
    if broken:
        notes.append(
            f"{directory}: {len(broken)} entr{'y' if len(broken) == 1 else 'ies'} cannot be read "
            "(symlinks to missing files): " + ", ".join(broken[:10]) + (" ..." if len(broken) > 10 else "")
        )
    names = classes if classes is not None else found
    label_of = {name: i for i, name in enumerate(names)}
    out = []
    for path, name in samples:
        if name == -1:
            out.append((path, -1))
        elif name in label_of:
            out.append((path, label_of[name]))
        else:
            raise ConfigError(
                f"data.root: class folder {os.path.join(directory, name)} is not a class of train/"
            )
    return out, found, notes


def folder(root: str) -> DatasetIndex:
    """Any directory of videos. Sub-folders are classes (videos at any depth below them), videos
    directly in the folder are unlabeled. `train/` with `val/` and/or `test/` (and nothing else)
    are splits, each laid out the same way."""
    subdirs = {e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")}
    if "train" in subdirs and subdirs <= {"train", "val", "test"} and len(subdirs) > 1:
        train, classes, notes = _scan(os.path.join(root, "train"), None)
        splits = {"train": train}
        for name in ("val", "test"):
            if name in subdirs:
                splits[name], _, more = _scan(os.path.join(root, name), classes)
                notes += more
        splits.setdefault("val", splits.get("test", []))
        splits.setdefault("test", splits["val"])
    else:
        train, classes, notes = _scan(root, None)
        splits = {"train": train, "val": [], "test": []}
    if not splits["train"]:
        raise ConfigError(
            f"data.root={root} holds no videos (looked for {', '.join(VIDEO_EXTENSIONS)} files, "
            "in class sub-folders or directly in the folder)"
        )
    return DatasetIndex(splits, classes or None, source=root, notes=notes)


# --- choosing -----------------------------------------------------------------------------------


def _read_classes(path: str) -> list[str] | None:
    """classes.txt: `index name` lines, as prepare_dataset writes them."""
    if not os.path.isfile(path):
        return None
    names = {}
    for number, line in _read_lines(path):
        parts = line.split(" ", 1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}:{number}: expected 'index name', got {line[:120]!r}")
        names[int(parts[0])] = parts[1]
    return [names.get(i, str(i)) for i in range(max(names) + 1)] if names else None


def load_index(
    name: str,
    root: str,
    layout: str = "auto",
    split: int = 1,
    train_list: str = "train.csv",
    val_list: str | None = "val.csv",
    test_list: str | None = None,
    num_classes: int | None = None,
) -> DatasetIndex:
    """The dataset under `root`: our `path label` lists when `train_list` is there (layout auto or
    list), else the official layout of `name` (ucf101, hmdb51, ssv2, k400), or any folder of
    videos (`name` folder or layout folder)."""
    if layout not in ("auto", "list", "official", "folder"):
        raise ConfigError(f"data.layout={layout!r} is not one of auto, list, official, folder")
    list_path = os.path.join(root, train_list)
    use_list = layout == "list" or (
        layout == "auto"
        and name != "folder"
        and os.path.isfile(list_path)
        and not (name == "k400" and is_k400_csv(list_path))
        and is_path_label_list(list_path)
    )
    if use_list:
        if not os.path.isfile(list_path):
            raise ConfigError(f"data.root={root} has no {train_list} (data.layout=list)")
        splits = {"train": read_list(list_path, num_classes=num_classes)}
        val_path = os.path.join(root, val_list) if val_list else None
        splits["val"] = (
            read_list(val_path, num_classes=num_classes) if val_path and os.path.isfile(val_path) else []
        )
        test_path = os.path.join(root, test_list) if test_list else None
        if test_path and not os.path.isfile(test_path):
            raise ConfigError(f"data.test_list={test_list}: {test_path} does not exist")
        splits["test"] = read_list(test_path, num_classes=num_classes) if test_path else splits["val"]
        classes = _read_classes(os.path.join(root, "classes.txt"))
        index = DatasetIndex(splits, classes, source=list_path)
    elif name == "folder" or layout == "folder":
        index = folder(root)
    elif name in OFFICIAL:
        reader = {"ucf101": ucf101, "hmdb51": hmdb51, "ssv2": ssv2, "k400": k400}[name]
        try:
            index = reader(root, split) if name in ("ucf101", "hmdb51") else reader(root)
        except LayoutNotFound as err:
            raise ConfigError(
                f"data.root={root} has neither {train_list} ('path label' lines, see "
                f"scripts/prepare_dataset.py) nor the official {name} layout ({err})"
            ) from None
    else:
        raise ConfigError(
            f"data.root={root} has no {train_list}: expected a list of 'path label' lines there "
            f"(set data.train_list to use another file name)"
        )
    if num_classes is not None and index.classes is not None and len(index.classes) > num_classes:
        raise ConfigError(
            f"data.num_classes={num_classes} but {index.source} defines {len(index.classes)} classes"
        )
    return index
