"""Pictures: arrays rendered, and a checkpoint's reconstructions of a video."""
