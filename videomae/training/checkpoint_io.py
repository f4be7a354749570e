"""Lightning checkpoints written atomically."""

from typing import Any

from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem

from videomae.checkpoints.io import save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file in the checkpoint's directory, fsyncs it, then renames it.

    Lightning's own writer stages local files in the system temp directory and moves them with
    `shutil.move`, which degrades to a plain copy onto the target (not atomic) when that directory
    is on another file system, as is usual on clusters, and never fsyncs. Remote (fsspec) paths
    keep Lightning's writer, whose transactions suit object stores.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_torch(checkpoint, path)
