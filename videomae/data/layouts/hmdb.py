"""HMDB51 as downloaded: `<class>_test_splitN.txt` files and one folder of videos per class."""

import os

from videomae.data.annotations import AnnotationError
from videomae.data.layouts.common import (
    DatasetIndex,
    LayoutNotFound,
    find_files,
    find_video_dir,
    read_lines,
)
from videomae.utils.errors import ConfigError


def hmdb51(root: str, split: int = 1) -> DatasetIndex:
    """`<class>_test_splitN.txt` files (`video.avi 1|2|0`: train, test, unused), usually in
    testTrainMulti_7030_splits/; videos in <class>/ folders. Classes in alphabetical order."""
    suffix = f"_test_split{split}.txt"
    files = find_files(root, f"*{suffix}", ("", "testTrainMulti_7030_splits", "splits", "test_train_splits"))
    if not files:
        if find_files(
            root, "*_test_split1.txt", ("", "testTrainMulti_7030_splits", "splits", "test_train_splits")
        ):
            raise ConfigError(
                f"data.split={split}: no *{suffix} files under {root} (HMDB51 has splits 1, 2, 3)"
            )
        raise LayoutNotFound(f"no *_test_split{split}.txt files under {root}")
    names = sorted(os.path.basename(f)[: -len(suffix)] for f in files)
    label_of = {name: i for i, name in enumerate(names)}
    entries: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for path in files:
        class_name = os.path.basename(path)[: -len(suffix)]
        for number, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(f"{path}:{number}: expected 'video.avi 0|1|2', got {line[:120]!r}")
            if parts[1] != "0":
                split_name = "train" if parts[1] == "1" else "val"
                entries[split_name].append((os.path.join(class_name, parts[0]), label_of[class_name]))
    probe = [rel for rel, _ in entries["train"][:5]]
    video_dir = find_video_dir(root, ("hmdb51", "hmdb51_org", "videos", ""), probe)
    splits = {s: [(os.path.join(video_dir, rel), label) for rel, label in e] for s, e in entries.items()}
    splits["test"] = splits["val"]
    return DatasetIndex(splits, names, source=f"{os.path.dirname(files[0])}/*{suffix}")
