"""Any folder of videos: sub-folders are classes, videos directly in it are unlabeled."""

import os

from videomae.data.layouts.common import VIDEO_EXTENSIONS, DatasetIndex, is_video, list_videos
from videomae.utils.errors import ConfigError


def _scan(directory: str, classes: list[str] | None) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """Videos directly in `directory` are unlabeled (-1); each sub-folder holding videos (at any
    depth) is a class; every video file is one sample, known by its path. Also returns notes on
    what was passed over: class folders without videos (empty or unreadable), entries that cannot
    be read (dangling symlinks) and folder links not followed again (loops)."""
    samples: list[tuple[str, str | int]] = []  # (path, class folder name), or (path, -1): unlabeled
    found: list[str] = []
    empty: list[str] = []
    broken: list[str] = []
    notes: list[str] = []
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file() and is_video(entry.name):
            samples.append((entry.path, -1))
        elif entry.is_dir():
            videos = list_videos(entry.path, notes)
            if videos:
                found.append(entry.name)
                samples.extend((path, entry.name) for path in videos)
            else:
                empty.append(entry.name)
        elif entry.is_symlink() and not os.path.exists(entry.path):
            broken.append(f"{entry.name} -> {os.readlink(entry.path)}")
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
        if isinstance(name, int):  # -1, a video directly in `directory`
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
