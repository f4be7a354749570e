"""Annotation lists in the original format: one `path label` per line, space separated."""

import os


class AnnotationError(ValueError):
    """A list line that does not parse; the message names the file and line."""


def read_list(list_path: str, root: str | None = None) -> list[tuple[str, int]]:
    """[(video path, label)] from a `path label` list. `path 0 -1` lines (pre-training) give label 0.

    Relative paths are taken relative to `root` (default: the list's directory).
    """
    if not os.path.isfile(list_path):
        raise FileNotFoundError(f"annotation list not found: {list_path}")
    base = root if root is not None else os.path.dirname(os.path.abspath(list_path))
    samples = []
    with open(list_path) as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            # Paths may contain spaces: the label fields are the last one or two tokens.
            parts = line.rsplit(" ", 2)
            if len(parts) == 3 and _is_int(parts[1]) and _is_int(parts[2]):
                path, label = parts[0], parts[1]
            else:
                parts = line.rsplit(" ", 1)
                if len(parts) != 2 or not _is_int(parts[1]):
                    raise AnnotationError(f"{list_path}:{number}: expected 'path label', got {line[:120]!r}")
                path, label = parts
            samples.append((os.path.join(base, path), int(label)))
    if not samples:
        raise AnnotationError(f"{list_path}: the list has no videos")
    return samples


def write_list(list_path: str, samples: list[tuple[str, int]]) -> None:
    tmp = f"{list_path}.tmp"
    with open(tmp, "w") as f:
        f.writelines(f"{path} {label}\n" for path, label in samples)
    os.replace(tmp, list_path)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
