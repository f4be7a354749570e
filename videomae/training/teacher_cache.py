"""A distillation teacher's outputs, computed once per video and clip and kept on disk in fp16
(`distill.cache.dir`), for teachers too large to run at every step.

An entry is the teacher's outputs for one clip exactly as the student saw it, addressed by the
SHA-1 of that clip's uint8 pixels (after every augmentation), and it records the video, the frame
indices and, with `data.device_transforms`, the crop and flip. A clip the student sees again with
the same pixels hits; any other clip (another window, crop or flip) is a miss, computed by the
teacher and added. An entry can therefore only be used for the clip it was made from. With
`distill.cache.clip_cycle=K` each video's clips and augmentations repeat every K epochs
(videomae.data.resume), so the cache hits from epoch K + 1 on.

`meta.json` records the teacher and the settings the outputs depend on; a directory made for
other ones is refused. Entries are written atomically, one file each, so a killed run's cache is
complete up to its last entry and a resumed run goes on filling it.
"""

import hashlib
import json
import os

import torch

from videomae.checkpoints.io import load_torch, save_torch
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError

META = "meta.json"


def teacher_fingerprint(path: str) -> dict:
    """What identifies a teacher file (or directory) without reading it all: path, size, mtime."""
    files = (
        [path]
        if os.path.isfile(path)
        else sorted(os.path.join(path, name) for name in os.listdir(path) if not name.startswith("."))
    )
    return {
        "path": os.path.abspath(path),
        "bytes": sum(os.path.getsize(f) for f in files if os.path.isfile(f)),
        "mtime": max(int(os.path.getmtime(f)) for f in files),
    }


def clip_key(clip: torch.Tensor) -> str:
    """SHA-1 of one uint8 clip (C, T, H, W) with its shape: the exact pixels the student sees."""
    data = clip.detach().to("cpu").contiguous()
    digest = hashlib.sha1(str(tuple(data.shape)).encode())
    digest.update(data.numpy().tobytes())
    return digest.hexdigest()


class TeacherCache:
    """`lookup(keys)` -> {key: outputs}; `store(key, outputs, record)`. Counts hits and misses."""

    def __init__(self, directory: str, settings: dict):
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.settings = json.loads(json.dumps(settings))  # as it reads back from JSON
        os.makedirs(self.directory, exist_ok=True)
        meta_path = os.path.join(self.directory, META)
        if os.path.isfile(meta_path):
            with open(meta_path, encoding="utf-8") as f:
                found = json.load(f)
            if found != self.settings:
                changed = sorted(
                    k for k in set(found) | set(self.settings) if found.get(k) != self.settings.get(k)
                )
                raise ConfigError(
                    f"distill.cache.dir={directory} holds a teacher cache made with other settings "
                    f"({', '.join(f'{k}: {found.get(k)} there, {self.settings.get(k)} now' for k in changed[:3])}); "  # noqa: E501
                    "choose another distill.cache.dir"
                )
        else:
            with atomic_path(meta_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.settings, f, indent=2)
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], f"{key}.pt")

    def lookup(self, keys: list[str]) -> dict[str, list[torch.Tensor]]:
        found = {}
        for key in keys:
            path = self.path(key)
            if os.path.isfile(path):
                entry = load_torch(path)
                if entry.get("key") == key:  # the entry was made from exactly this clip
                    found[key] = entry["outputs"]
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def store(self, key: str, outputs: list[torch.Tensor], record: dict) -> None:
        os.makedirs(os.path.dirname(self.path(key)), exist_ok=True)
        entry = {"key": key, "outputs": [o.detach().to("cpu", torch.float16) for o in outputs], **record}
        save_torch(entry, self.path(key))

    def disk_bytes(self) -> int:
        return sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(self.directory)
            for name in names
        )
