class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what it accepts."""
