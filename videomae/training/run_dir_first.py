"""A single run's hydra.run.dir, checked before Hydra writes into it.

Hydra writes `.hydra/` (config.yaml, hydra.yaml, overrides.yaml) and the script's log into
hydra.run.dir before any of the run's code runs: a user's own `.hydra/` there was overwritten
and the run went on, a folder the run then refused kept Hydra's files, and a file ended in
Hydra's FileExistsError. The scripts call `check_run_dir_first` before Hydra starts.
"""

import os
import sys

from hydra import compose, initialize_config_dir

from videomae.config.cli import RANK_VARIABLES
from videomae.config.preflight import CONFIG_DIR
from videomae.training.run_steps import check_run_dir
from videomae.utils.errors import ConfigError


def check_run_dir_first(config_name: str, argv: list[str]) -> None:
    """Exit with one `error: ...` line (status 2) when the hydra.run.dir given on the command
    line is a file, or a folder a fresh run must not write into (`check_run_dir`, with Hydra's
    files counted as someone else's). Without hydra.run.dir the default is a new folder; other
    ranks share rank 0's folder, which it has just written; sweeps use hydra.sweep.dir."""
    overrides = [a for a in argv if not a.startswith("-")]
    if len(overrides) != len(argv) or not any(o.lstrip("+").startswith("hydra.run.dir=") for o in argv):
        return  # -m, --cfg, --help, ...: Hydra's own modes
    if any(os.environ.get(name, "0").strip() not in ("", "0") for name in RANK_VARIABLES):
        return
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name=config_name):
            cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        run_dir = str(cfg.hydra.run.dir)
    except Exception:  # noqa: BLE001 - a bad override: Hydra reports it, as it would without this check
        return
    try:
        if os.path.lexists(run_dir) and not os.path.isdir(run_dir):
            raise ConfigError(
                f"hydra.run.dir={run_dir} is a file, not a directory: choose a new or empty hydra.run.dir"
            )
        check_run_dir(cfg, run_dir, hydra_wrote=False)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
