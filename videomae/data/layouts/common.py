"""What the dataset readers share: the index they return and how they find files under a root."""

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from videomae.data.annotations import LIST_ENCODING
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


def find_files(root: str, pattern: str, hints: tuple[str, ...]) -> list[str]:
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


def find_video_dir(root: str, hints: tuple[str, ...], probe: list[str]) -> str:
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


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding=LIST_ENCODING, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if line:
                yield number, line


def index_videos(directory: str) -> dict[str, str]:
    """file stem -> path for every video under `directory` (class sub-folders or flat)."""
    index: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if is_video(name):
                index.setdefault(os.path.splitext(name)[0], os.path.join(dirpath, name))
    return index
