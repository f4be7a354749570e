"""Files written atomically: a temporary file next to the target, fsynced, then renamed onto it.

A crash at any moment leaves either the old file or the new one, never half of one; a SIGKILL
can leave the temporary file, which `clean_stale_temp_files` removes when the next run in that
directory starts. A full disk ends with `DiskFullError`. Every file this framework writes for
later (checkpoints through checkpoints/io.py, run summaries, predictions, probe.json, features,
annotation lists, re-encoded and generated videos) goes through `atomic_path`; a directory made in
one piece (a transformers export, the generated demo dataset) through `atomic_directory`.
"""

import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from videomae.utils.errors import DiskFullError


def _fsync(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# `.NAME.<32 hex>.tmp`: the temporary files of atomic_path, and nothing a user would name so.
TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _is_disk_full(err: BaseException | None) -> bool:
    """Whether `err`, or an exception it was raised from or during, is "no space left"."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL:
            return True
        if "No space left on device" in str(err) or "Disk quota exceeded" in str(err):
            return True  # safetensors' writer (Rust) reports the OS error as text
        err = err.__cause__ or err.__context__
    return False


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes} bytes" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError


def _disk_full_error(path: Path, needed: int | None, written: int) -> DiskFullError:
    free = shutil.disk_usage(path.parent).free
    need = f"about {_size(needed)}" if needed else f"more than the {_size(written)} written before it failed"
    previous = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was there before"
    return DiskFullError(
        f"disk full while writing {path}: it needs {need}, {_size(free)} are free on that file "
        f"system; {previous} (nothing half-written is left). Free space and resume (ckpt_path=last)."
    )


@contextmanager
def atomic_path(path: str | Path, size_hint: int | None = None) -> Iterator[str]:
    """Yields a temporary path next to `path`; renamed onto `path` only once fully written and synced.

    A crash (or an exception) while writing leaves any previous file at `path` untouched. When the
    file system is full, the temporary file is removed and DiskFullError names the path and the
    bytes needed (`size_hint`, else what was written).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp"))  # same file system: rename is atomic
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        with suppress(OSError):  # some file systems cannot sync a directory
            _fsync(path.parent, directory=True)
    except BaseException as err:
        written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        with suppress(FileNotFoundError):
            os.remove(tmp)
        if _is_disk_full(err):
            raise _disk_full_error(path, size_hint, written) from None
        raise


@contextmanager
def atomic_directory(path: str | Path, replace: bool = True) -> Iterator[str]:
    """Yields a temporary directory next to `path`, moved onto `path` once the block ends without
    an exception; on one, it is removed and `path` is as it was.

    `replace`: an existing `path` (a directory, file or link) is swapped out and then removed; else
    it is kept and the new directory removed (another process made it first).
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        yield str(tmp)
        if replace and path.is_dir() and not path.is_symlink():
            # Two renames, so that `path` is never missing for longer than between them.
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        elif replace:
            if os.path.lexists(path):
                os.remove(path)
            os.replace(tmp, path)
        else:
            with suppress(OSError):  # a non-empty `path` is there: another process finished first
                os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale_temp_files(*directories: str | Path) -> list[str]:
    """Remove the temporary files that a killed save left in `directories`; returns their paths.

    Call it before anything in this run writes there (rank zero, at start-up): a temporary file
    then belongs to a process that no longer runs.
    """
    removed = []
    for directory in directories:
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            full = os.path.join(directory, name)
            if TEMP_PATTERN.match(name) and os.path.isfile(full):
                with suppress(FileNotFoundError):
                    os.remove(full)
                    removed.append(full)
    return removed
