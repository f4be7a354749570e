"""Reading checkpoints without running code from them, and writing them atomically.

Every checkpoint this framework writes goes through `atomic_path` (videomae.utils.atomic_files): a crash
leaves the old file or the new one, never half of one, and a full disk ends with DiskFullError.
"""

import argparse
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import CheckpointError

# The original training code stores its argparse options next to the weights; a Namespace is
# rebuilt from a plain dict of values, so allowing it runs no code from the file.
# The type torch.serialization.safe_globals takes (a list: invariant, so spelled out here).
SAFE_GLOBALS: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [argparse.Namespace]


def _nbytes(obj: Any) -> int:
    """The tensor bytes in a nested container: what torch.save needs on disk, near enough."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


def save_torch(obj: Any, path: str | Path) -> None:
    with atomic_path(path, size_hint=_nbytes(obj)) as tmp:
        # Through a Python file object: a full disk then raises OSError(ENOSPC), where torch's own
        # writer says only "unexpected pos".
        with open(tmp, "wb") as f:
            torch.save(obj, f)


def save_safetensors(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None
) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path, size_hint=_nbytes(tensors)) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def save_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _is_safetensors(path: Path) -> bool:
    """Safetensors files start with an 8-byte header length and then the JSON header."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


# torch's legacy format opens with this number pickled (protocol 2, LONG1 of 10 bytes).
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _is_legacy_torch(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_LEGACY_MAGIC)) == _LEGACY_MAGIC


def _why_unreadable(path: Path, err: Exception) -> str:
    """What is wrong with a file torch could not load, in words (never torch's weights_only advice)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(0, size - 65_557))  # a zip's end record sits in its last 64 KiB + 22 bytes
        tail = f.read()
    if head == b"PK\x03\x04":  # torch's format is a zip archive
        if b"PK\x05\x06" not in tail:
            return (
                f"truncated ({size} bytes; the end of the PyTorch archive is missing: an interrupted "
                "copy or save?)"
            )
        text = str(err).split("WeightsUnpickler error:")[-1].strip()
        reason = next((line for line in text.splitlines() if "weights_only" not in line), "")
        return f"a corrupt PyTorch archive ({size} bytes): {reason[:200] or type(err).__name__}"
    if head[:1] == b"\x80" and not _is_legacy_torch(path):
        return (
            f"a plain Python pickle ({size} bytes), not a PyTorch or safetensors checkpoint: refused "
            "(unpickling can run code from the file); save the state dict with torch.save"
        )
    if head[:1] == b"\x80":  # torch's legacy (pickle) format
        return f"truncated or corrupt ({size} bytes of a legacy PyTorch pickle file)"
    return f"not a checkpoint ({size} bytes; neither a PyTorch nor a safetensors file)"


def load_torch(path: str | Path, mmap: bool = False) -> Any:
    """torch.load as every reader here calls it: weights_only (no code from the file runs), the
    original's argparse options allowed, and no warning of a pickle protocol torch does not read
    (it fails next, and the caller says why in one line)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def read_tensors(path: str | Path, mmap: bool = False) -> tuple[Any, dict[str, str]]:
    """The object stored in a torch or safetensors file and the safetensors metadata ({} for torch).

    torch files are read with `weights_only=True`: only tensors and plain containers can come out,
    so a file cannot run code while it is loaded. A file that cannot be read raises CheckpointError
    naming the file and what is wrong: empty, truncated, not a checkpoint, or refused for code.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes): not a checkpoint")
    if _is_safetensors(path):
        try:
            with safe_open(path, "pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path}: broken safetensors file (truncated or corrupt): {err}") from None
    try:
        # mmap: tensors stay on disk until used (a large checkpoint read for its step only); only
        # torch's zip format can be mapped
        return load_torch(path, mmap=mmap and _is_zip(path)), {}
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean the same
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found:
            raise CheckpointError(
                f"{path}: refused to load: the file contains a Python object ({found.group(1)}) that only "
                "code from the file could rebuild; checkpoints are read with torch.load(weights_only=True), "
                "which accepts tensors and plain containers only. Re-save just the state dict if you trust "
                "the file."
            ) from None
        raise CheckpointError(f"{path}: {_why_unreadable(path, err)}") from None


def read_training_checkpoint(path: str | Path, needs: str | None = None, mmap: bool = False) -> dict:
    """A Lightning checkpoint of this framework (state_dict, global_step, hyper_parameters), read
    as safely as `read_tensors`. `needs`: a hyper-parameter the run's kind of module has (e.g.
    `mask` for pre-training, `num_classes` for fine-tuning), so that the wrong kind of checkpoint
    is refused here rather than deep inside Lightning."""
    obj, _ = read_tensors(path, mmap=mmap)
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict) or "global_step" not in obj:
        raise CheckpointError(
            f"{path}: not a training checkpoint of this framework (no state_dict and global_step: a "
            "Lightning .ckpt from a run's checkpoints/ is needed to resume; to start from weights, "
            "fine-tune with pretrained=PATH)"
        )
    hp = obj.get("hyper_parameters")
    if needs is not None and not (isinstance(hp, dict) and needs in hp):
        kind = {"mask": "pre-training", "num_classes": "fine-tuning"}.get(needs, needs)
        raise CheckpointError(f"{path}: not a {kind} checkpoint (its hyper_parameters have no {needs!r})")
    return obj
