"""What the training copy will hold, read from --root before anything is written
(videomae.data.reencode): each video and annotation file with its path in the copy, the folder
links to reproduce, the files skipped, and the checks that DST is apart from --root and writable."""

import os
import stat
from dataclasses import dataclass, field

from videomae.data.layouts import is_video
from videomae.data.layouts.common import walk_folders
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

ANNOTATION_EXTENSIONS = (".txt", ".csv", ".json", ".tsv", ".list")
REPORT = "reencode_report.txt"


def copy_target(path: str) -> str:
    """The name a video gets in the copy: same path, extension .mp4."""
    return os.path.splitext(path)[0] + ".mp4"


@dataclass
class Plan:
    """What the copy holds, read from --root before anything is written."""

    videos: list[tuple[str, str]] = field(default_factory=list)  # (source, path in the copy)
    texts: list[tuple[str, str]] = field(default_factory=list)  # annotation files, likewise
    links: list[tuple[str, str]] = field(default_factory=list)  # (link in the copy, its target)
    skipped: dict[str, str] = field(default_factory=dict)  # {source: why}: not regular files
    notes: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # every folder walked


def _not_regular(path: str) -> str | None:
    """Why `path` cannot be a video to read (None: a regular file). A FIFO or a device named like
    a video would block the reader forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"not a regular file ({kind}): skipped"


def plan(src_root: str, dst_root: str) -> Plan:
    """The videos and annotation files under `src_root`, each with its path in the copy. Each
    real folder is walked once: a second path to it (a folder link, a loop) becomes a link in
    the copy to where the first one went, so the copy is laid out as the original."""
    out = Plan()
    revisits: list[tuple[str, str]] = []
    for dirpath, filenames in walk_folders(src_root, revisits):
        out.folders.append(dirpath)
        rel_dir = os.path.relpath(dirpath, src_root)
        for name in filenames:
            src, dst = os.path.join(dirpath, name), os.path.normpath(os.path.join(dst_root, rel_dir, name))
            if is_video(name):
                why = _not_regular(src)
                if why:
                    out.skipped[src] = why
                else:
                    out.videos.append((src, copy_target(dst)))
            elif name.lower().endswith(ANNOTATION_EXTENSIONS) and name != REPORT:
                out.texts.append((src, dst))
    outside = []
    for link, first in revisits:
        rel_first = os.path.relpath(first, src_root)
        if rel_first.startswith(".."):  # a loop back to a folder above --root: nothing to copy
            outside.append(f"{link} (= {first})")
            continue
        where = os.path.join(dst_root, os.path.relpath(link, src_root))
        out.links.append((where, os.path.relpath(os.path.join(dst_root, rel_first), os.path.dirname(where))))
    if revisits:
        out.notes.append(
            f"{src_root}: {len(revisits)} folder link(s) lead to a folder already walked (a symlink loop, "
            "or a second link to the same folder); each is copied once, the other paths become links "
            "in the copy" + (f"; not followed (above --root): {', '.join(outside[:5])}" if outside else "")
        )
    return out


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _identities(path: str) -> list[tuple[int, int]]:
    """(st_dev, st_ino) of `path` (or its nearest existing parent) and of every folder above it."""
    keys = []
    path = os.path.realpath(path)
    while True:
        if os.path.exists(path):
            st = os.stat(path)
            keys.append((st.st_dev, st.st_ino))
        if os.path.dirname(path) == path:
            return keys
        path = os.path.dirname(path)


def check_apart(src_root: str, dst_root: str, folders: list[str]) -> None:
    """Refuse a DST that is, holds, or lies in --root or any folder read from it, compared by real
    path (symlinks resolved) and by file identity (a bind mount): writing there would rewrite
    the source (its annotation files first)."""
    real_src, real_dst = os.path.realpath(src_root), os.path.realpath(dst_root)
    what = f"--reencode {dst_root} must be outside --root {src_root} (and not contain it)"
    if _inside(real_dst, real_src) or _inside(real_src, real_dst):
        raise ConfigError(f"{what}: they are {real_dst} and {real_src} once symlinks are resolved")
    src_keys, dst_keys = _identities(src_root), _identities(dst_root)
    if (src_keys and src_keys[0] in dst_keys) or (os.path.exists(dst_root) and dst_keys[0] in src_keys):
        raise ConfigError(f"{what}: one is the other, or lies in it, through a mount")
    for folder in folders:  # folders reached from --root through links, or a mount of one
        real = os.path.realpath(folder)
        if _inside(real_dst, real) or _inside(real, real_dst):
            raise ConfigError(f"{what}: {folder} in --root leads to {real}")
        keys = _identities(folder)
        if keys and (keys[0] in dst_keys or (os.path.exists(dst_root) and dst_keys[0] in keys)):
            raise ConfigError(f"{what}: {folder} (read from --root) holds DST or lies in it, through a mount")


def writable(dst_root: str) -> None:
    """Create DST and write a file there, or fail in one line naming why."""
    if os.path.exists(dst_root) and not os.path.isdir(dst_root):
        raise ConfigError(f"--reencode {dst_root}: is a file, not a folder")
    try:
        os.makedirs(dst_root, exist_ok=True)
        with atomic_path(os.path.join(dst_root, ".write-test")) as tmp, open(tmp, "wb") as f:
            f.write(b"ok")
        os.remove(os.path.join(dst_root, ".write-test"))
    except OSError as err:
        raise ConfigError(f"--reencode {dst_root}: cannot write there ({err.strerror or err})") from None
