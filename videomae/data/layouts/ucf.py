"""UCF101 as downloaded: `classInd.txt` and the `trainlist0N.txt` / `testlist0N.txt` splits."""

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


def ucf101(root: str, split: int = 1) -> DatasetIndex:
    """`classInd.txt` (`1 ApplyEyeMakeup`), `trainlist0N.txt` (`Class/v_x.avi 1`) and
    `testlist0N.txt` (`Class/v_x.avi`), usually in ucfTrainTestlist/; videos in UCF-101/."""
    found = find_files(
        root, "classInd.txt", ("", "ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask")
    )
    if not found:
        raise LayoutNotFound(f"no classInd.txt under {root}")
    class_file = found[0]
    ann_dir = os.path.dirname(class_file)
    classes: dict[int, str] = {}
    for number, line in read_lines(class_file):
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
    entries: dict[str, list[tuple[str, int]]] = {s: [] for s in files}
    for split_name, path in files.items():
        for number, line in read_lines(path):
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
    video_dir = find_video_dir(root, ("UCF-101", "UCF101", "videos", ""), probe)
    splits = {s: [(os.path.join(video_dir, rel), label) for rel, label in e] for s, e in entries.items()}
    splits["test"] = splits["val"]
    return DatasetIndex(splits, names, source=f"{class_file}, {files['train']}, {files['val']}")
