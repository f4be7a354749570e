"""The `logger` config group: csv, wandb (offline unless logged in), tensorboard or none."""

import netrc
import os

from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger

from videomae.errors import ConfigError

LOGGERS = ("csv", "wandb", "tensorboard", "none")


def wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def build_logger(cfg: dict, run_dir: str) -> Logger | bool:
    name = cfg.get("name")
    if name == "csv":
        return CSVLogger(save_dir=run_dir, name="", version="")
    if name == "tensorboard":
        return TensorBoardLogger(save_dir=run_dir, name="", version="", default_hp_metric=False)
    if name == "wandb":
        offline = cfg.get("mode", "auto") == "offline" or (
            cfg.get("mode", "auto") == "auto" and not wandb_logged_in()
        )
        return WandbLogger(
            project=cfg.get("project", "videomae"),
            entity=cfg.get("entity"),
            name=cfg.get("run_name"),
            save_dir=run_dir,
            offline=offline,
        )
    if name == "none":
        return False
    raise ConfigError(f"logger={name!r} is not one of {', '.join(LOGGERS)}")
