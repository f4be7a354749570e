"""Reading checkpoints without running code from them, and writing them atomically."""

import argparse
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from videomae.errors import CheckpointError

# The original training code stores its argparse options next to the weights; a Namespace is
# rebuilt from a plain dict of values, so allowing it runs no code from the file.
SAFE_GLOBALS = [argparse.Namespace]


def _fsync(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """Yields a temporary path next to `path`; renamed onto `path` only once fully written and synced.

    A crash (or an exception) while writing leaves any previous file at `path` untouched.
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
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def save_torch(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_safetensors(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None
) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def save_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _is_safetensors(path: Path) -> bool:
    """Safetensors files start with an 8-byte header length and then the JSON header."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def read_tensors(path: str | Path) -> tuple[Any, dict[str, str]]:
    """The object stored in a torch or safetensors file and the safetensors metadata ({} for torch).

    torch files are read with `weights_only=True`: only tensors and plain containers can come out,
    so a file cannot run code while it is loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if _is_safetensors(path):
        try:
            with safe_open(path, "pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path}: broken safetensors file (truncated or corrupt): {err}") from None
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True), {}
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean the same
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found:
            raise CheckpointError(
                f"{path}: refused to load: the file contains a Python object ({found.group(1)}) that only "
                "code from the file could rebuild; checkpoints are read with torch.load(weights_only=True), "
                "which accepts tensors and plain containers only. Re-save just the state dict if you trust "
                "the file."
            ) from None
        text = str(err).split("WeightsUnpickler error:")[-1].strip()  # torch's advice is noise here
        reason = text.splitlines()[0][:200] if text else type(err).__name__
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated, corrupt, or not a PyTorch/safetensors file): "
            f"{reason}"
        ) from None
