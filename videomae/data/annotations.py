"""Annotation lists in the original format: one `path label` per line, space separated.

`path 0 -1` lines (the original's pre-training lists) are read as label 0. Paths may contain
spaces: the label fields are the last one or two tokens. Label -1 marks an unlabeled video.
Lists saved by Windows tools are read as they are: a UTF-8 byte-order mark and CRLF line ends.
"""

import os

from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

# utf-8-sig drops the byte-order mark Windows tools write at the start (else it sticks to the first
# path); CRLF line ends go with the newline translation of text mode and strip().
LIST_ENCODING = "utf-8-sig"


class AnnotationError(ConfigError):
    """An annotation line or file that does not parse; the message names the file and line."""


def read_list(
    list_path: str, root: str | None = None, num_classes: int | None = None
) -> list[tuple[str, int]]:
    """[(video path, label)] from a `path label` list.

    Relative paths are taken relative to `root` (default: the list's directory). With
    `num_classes`, a label outside [-1, num_classes) fails naming the file and line.
    """
    if not os.path.isfile(list_path):
        raise AnnotationError(f"annotation list not found: {list_path}")
    base = root if root is not None else os.path.dirname(os.path.abspath(list_path))
    samples = []
    with open(list_path, encoding=LIST_ENCODING, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            # Paths may contain spaces: the label fields are the last one or two tokens.
            parts = line.rsplit(" ", 2)
            if len(parts) == 3 and _is_int(parts[1]) and _is_int(parts[2]):
                path, label = parts[0], int(parts[1])
            else:
                parts = line.rsplit(" ", 1)
                if len(parts) != 2 or not _is_int(parts[1]) or not parts[0].strip():
                    raise AnnotationError(f"{list_path}:{number}: expected 'path label', got {line[:120]!r}")
                path, label = parts[0], int(parts[1])
            if label < -1 or (num_classes is not None and label >= num_classes):
                limit = f"0..{num_classes - 1}" if num_classes is not None else "0 or more"
                raise AnnotationError(
                    f"{list_path}:{number}: label {label} is outside {limit} (data.num_classes={num_classes})"
                )
            samples.append((os.path.join(base, path.strip()), label))
    if not samples:
        raise AnnotationError(f"{list_path}: the list has no videos")
    return samples


def is_path_label_list(list_path: str) -> bool:
    """Whether the file's first non-empty line reads as `path label` (not, say, a CSV header)."""
    with open(list_path, encoding=LIST_ENCODING, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                parts = line.rsplit(" ", 1)
                return len(parts) == 2 and _is_int(parts[1])
    return False


def write_list(list_path: str, samples: list[tuple[str, int]]) -> None:
    """Write `path label` lines; paths under the list's directory are written relative to it."""
    base = os.path.dirname(os.path.abspath(list_path))
    with atomic_path(list_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for path, label in samples:
            if os.path.isabs(path):
                rel = os.path.relpath(path, base)
                path = rel if not rel.startswith("..") else path
            f.write(f"{path} {label}\n")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
