"""Hydra multirun sweeps: every job's config is composed and checked before any job is launched.

`python scripts/pretrain.py -m mask.ratio=0.75,0.9,0.95 hydra/launcher=submitit_local` would
otherwise start all the jobs and let a bad value fail in one of them, minutes later and possibly
on another machine. `preflight` composes each job's configuration as the sweeper will (Hydra's
own override parser and basic-sweeper expansion), resolves the launcher's settings, and runs the
run module's start-up checks (`check_config`: the run's settings built by
videomae.training.configs.build_configs, as the run itself builds them at its start); the first
problem ends the program with one `error: ...` line. Runs that are neither multirun nor name a
launcher are left alone.
"""

import os
import sys
import warnings
from collections.abc import Callable

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

from videomae.config.sweep_jobs import use_final_states
from videomae.utils.errors import ConfigError

CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)


def quiet_launcher_schema_warning() -> None:
    """configs/hydra/launcher/submitit_*.yaml carry the plugin's own names, so Hydra merges them
    onto the plugin's schema (typed keys) and warns that this is deprecated. The files list every
    key, so they also work once Hydra stops merging; the warning is noise to a user."""
    warnings.filterwarnings(
        "ignore", message=r"(?s).*hydra/launcher/submitit_\w+' is validated against ConfigStore schema"
    )


def job_overrides(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job of a sweep, in the order Hydra's basic sweeper launches them."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def swept_keys(overrides: list[str]) -> list[str]:
    """The keys a sweep varies (`mask.ratio=0.75,0.9` -> mask.ratio)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def is_multirun(args) -> bool:
    return bool(args.multirun) or any(
        o.replace(" ", "").lower() == "hydra.mode=multirun" for o in args.overrides
    )


def check_launcher(cfg: DictConfig) -> None:
    """The launcher's settings resolve to valid values (tasks_per_node follows trainer.devices, which
    must then be a number, not `auto`)."""
    launcher = cfg.hydra.launcher
    for key in launcher:
        try:
            value = launcher[key]  # resolves and type-checks a scalar
            if OmegaConf.is_config(value):
                OmegaConf.to_container(value, resolve=True)
        except Exception as err:  # omegaconf's ValidationError / InterpolationResolutionError
            raw = OmegaConf.to_container(launcher, resolve=False).get(key)
            hint = f"; set {raw[2:-1]} to a number" if _is_interpolation(raw) else ""
            raise ConfigError(
                f"hydra.launcher.{key}={raw} is {_source_value(cfg, raw)!r}, which the launcher cannot "
                f"take ({_first_line(err)}){hint}"
            ) from None


def _is_interpolation(raw) -> bool:
    return isinstance(raw, str) and raw.startswith("${") and raw.endswith("}")


def _source_value(cfg: DictConfig, raw):
    if _is_interpolation(raw):
        return OmegaConf.select(cfg, raw[2:-1], default=raw)
    return raw


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0].strip() if lines else type(err).__name__


def describe(err: BaseException) -> str:
    """One line for a composition or validation error."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        if err.options:
            return f"{group}={name} is not one of {', '.join(err.options)}"
        return f"{group}={name}: no such config"
    return _first_line(err)


def preflight(config_name: str, argv: list[str], check: Callable[[DictConfig], None]) -> None:
    """Compose and check every job of a sweep (or a run that names hydra/launcher) before Hydra
    launches anything; exit with one `error: ...` line (status 2) on the first bad job."""
    quiet_launcher_schema_warning()
    args, _ = get_args_parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return
    multirun = is_multirun(args)
    if not multirun and not any(o.lstrip("+~").startswith("hydra/launcher") for o in args.overrides):
        return
    try:
        jobs = job_overrides(args.overrides) if multirun else [args.overrides]
        swept = swept_keys(args.overrides) if multirun else []
    except Exception as err:  # hydra's OverrideParseException
        fail(f"bad override: {_first_line(err)}")
    errors = []  # (job number, its swept values, the message)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name=config_name):
        for num, overrides in enumerate(jobs):
            try:
                cfg = compose(args.config_name or config_name, overrides=overrides, return_hydra_config=True)
                check_launcher(cfg)
                check(cfg)
            except ConfigError as err:
                errors.append((num, overrides, str(err)))
            except Exception as err:  # Hydra's composition errors, omegaconf's validation errors
                errors.append((num, overrides, describe(err)))
    if not errors:
        use_final_states()  # the submitit launchers report each job's final state (sweep.jobs)
        return
    num, overrides, message = errors[0]
    if len(errors) == len(jobs) and len({e[2] for e in errors}) == 1:
        fail(message)  # not about a swept value: every job has it
    values = [o for o in overrides if o.lstrip("+~").split("=")[0] in swept]
    more = f" (and {len(errors) - 1} more jobs)" if len(errors) > 1 else ""
    fail(f"sweep job {num} of {len(jobs)} ({' '.join(values)}){more}: {message}")


def fail(message: str) -> None:
    print(f"error: {message}; no job was launched", file=sys.stderr)
    sys.exit(2)
