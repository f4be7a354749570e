class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what it accepts."""


class DataError(RuntimeError):
    """The data cannot be used as configured (e.g. too many unreadable videos); the message lists
    examples."""
