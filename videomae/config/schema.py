"""The `data` group's check at start-up, through DataConfig's own field rules
(videomae.data.config), beside the other groups' settings that videomae.training.configs builds:
a wrong type or range fails with one line naming the key, the value and what is allowed
(videomae.utils.config_fields). Only the keys given are checked here; DataConfig itself, built when the
datamodule is, adds the rules between keys."""

from omegaconf import DictConfig, OmegaConf

from videomae.data.config import DataConfig
from videomae.utils.config_fields import S, check_fields


def group_values(cfg: DictConfig, key: str) -> dict | None:
    """The config group `key` resolved to plain data (None when the config has no such mapping)."""
    section = cfg.get(key)
    if section is None or not OmegaConf.is_dict(section):
        return None
    values = OmegaConf.to_container(section, resolve=True)
    return values if isinstance(values, dict) else None


def group_config(cfg: DictConfig, key: str, settings: type[S], unknown: str = "ignore") -> S | None:
    """The config group `key` built as the typed `settings` class (None when the config has none)."""
    values = group_values(cfg, key)
    return settings.from_dict(values, unknown=unknown) if values is not None else None


def validate_data(cfg: DictConfig) -> None:
    """Check the `data` group of a run's configuration (the other groups: training.configs)."""
    values = group_values(cfg, "data")
    if values is not None:
        check_fields(DataConfig, "data", values)
