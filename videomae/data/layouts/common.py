"""What the dataset readers share: the index they return and how they find files under a root."""

import glob
import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

from videomae.data.annotations import LIST_ENCODING
from videomae.utils.errors import ConfigError

VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv",
    ".ts", ".mts", ".m2ts", ".vob",
)  # fmt: skip
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


def walk_folders(top: str, revisits: list[tuple[str, str]] | None = None) -> Iterator[tuple[str, list[str]]]:
    """(folder, its file names sorted) for `top` and every folder below it, depth first in name
    order, hidden (dot) folders skipped. Folder symlinks are followed, but each real folder is
    entered once, told by (st_dev, st_ino): a link to a folder already walked, or to `top` or a
    folder above it (a loop), is not entered again (os.walk(followlinks=True) loops forever
    there); `revisits` receives (that link, the path the folder was walked as)."""
    seen: dict[tuple[int, int], str] = {}
    path = os.path.realpath(top)
    while True:  # top and every folder above it: a link back up to one of them is a loop
        with suppress(OSError):
            st = os.stat(path)
            seen.setdefault((st.st_dev, st.st_ino), path)
        if os.path.dirname(path) == path:
            break
        path = os.path.dirname(path)
    with suppress(OSError):
        st = os.stat(top)
        seen[(st.st_dev, st.st_ino)] = top
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # unreadable folder: passed over, as os.walk does
            continue
        files, folders = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                files.append(entry.name)
            elif not entry.name.startswith("."):
                try:
                    st = os.stat(entry.path)
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    if revisits is not None:
                        revisits.append((entry.path, seen[key]))
                    continue
                seen[key] = entry.path
                folders.append(entry.path)
        yield directory, files
        stack.extend(reversed(folders))


def revisit_note(top: str, revisits: list[tuple[str, str]]) -> list[str]:
    """The warning for the folder links `walk_folders` did not follow again (none: [])."""
    if not revisits:
        return []
    shown = ", ".join(f"{link} (= {first})" for link, first in revisits[:5])
    return [
        f"{top}: {len(revisits)} folder link(s) lead to a folder already walked (a symlink loop, or a "
        f"second link to the same folder); not followed again: {shown}"
        + (" ..." if len(revisits) > 5 else "")
    ]


def list_videos(directory: str, notes: list[str]) -> list[str]:
    """Every video file under `directory` (class sub-folders or flat), sorted; a video is known by
    its path, so files that share a name in different folders (or differ only in extension) are
    all kept. Links not followed go to `notes`."""
    revisits: list[tuple[str, str]] = []
    videos = [
        os.path.join(folder, name)
        for folder, files in walk_folders(directory, revisits)
        for name in files
        if is_video(name)
    ]
    notes.extend(revisit_note(directory, revisits))
    return sorted(videos)


def index_videos(directory: str, notes: list[str]) -> dict[str, list[str]]:
    """file stem -> every path with that stem under `directory` (sorted), for layouts whose
    annotation files name videos by stem (Kinetics): the same clip can sit in two class folders."""
    index: dict[str, list[str]] = {}
    for path in list_videos(directory, notes):
        index.setdefault(os.path.splitext(os.path.basename(path))[0], []).append(path)
    return index
