class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what it accepts."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read or mapped; the message names the file and the offending keys."""


class DataError(RuntimeError):
    """The data cannot be used as configured (e.g. too many unreadable videos); the message lists
    examples."""


class DiskFullError(RuntimeError):
    """A file could not be written because its file system is full; the message names the path,
    the bytes needed and what was kept."""
