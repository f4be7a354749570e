"""Lightning checkpoints written atomically and read safely."""

from typing import Any

from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem

from videomae.checkpoints.io import read_training_checkpoint, save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file in the checkpoint's directory, fsyncs it, then renames it.

    Lightning's own writer stages local files in the system temp directory and moves them with
    `shutil.move`, which degrades to a plain copy onto the target (not atomic) when that directory
    is on another file system, as is usual on clusters, and never fsyncs. Remote (fsspec) paths
    keep Lightning's writer, whose transactions suit object stores.

    Local checkpoints are read with the framework's safe reader (weights_only, one-line errors
    for empty, truncated or foreign files), like every other path that opens a checkpoint.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_torch(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None):
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().load_checkpoint(path, map_location, weights_only=True)
        return read_training_checkpoint(path)
