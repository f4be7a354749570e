"""Command-line helpers: `reported_errors()` for every script, and `key=value` arguments for the
tool scripts (visualize, extract_features, evaluate), as Hydra writes them.

`parse_args(argv, options)` returns the options with their values converted; unknown keys and
missing required ones raise ConfigError with one line that names them. Keys listed in
`passthrough` (exact names, or prefixes ending in '.') are returned apart, as Hydra overrides.
"""

import os
import re
import sys
from contextlib import contextmanager

from videomae.utils.errors import CheckpointError, ConfigError, DataError, DiskFullError

REQUIRED = object()
ANY_KEY = ("",)  # as `passthrough`: every key that is not an option is a Hydra override

# torch re-raises a DataLoader worker's exception as the same type with the message
# "Caught X in DataLoader worker process N.\nOriginal Traceback ...\nmodule.X: <message>".
_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback")


def user_message(err: BaseException) -> str:
    """The message of `err` as the user should read it: a DataLoader worker's wrapping (the
    worker's traceback) removed, so that it reads as it does with num_workers=0."""
    text = str(err)
    if not _WORKER.match(text):
        return text
    cls = type(err)
    marker = f"\n{cls.__module__}.{cls.__qualname__}: "
    head, found, message = text.rpartition(marker)
    return message.rstrip("\n") if found else text.splitlines()[-1]


@contextmanager
def reported_errors():
    """A user's mistake ends the program with one `error: ...` line, not a traceback: exit 2 for
    a wrong setting or checkpoint, 1 when the data itself cannot be used or the disk is full. The
    same holds for errors raised inside DataLoader workers."""
    try:
        yield
    except (ConfigError, CheckpointError) as err:
        print(f"error: {user_message(err)}", file=sys.stderr)
        sys.exit(2)
    except (DataError, DiskFullError) as err:
        print(f"error: {user_message(err)}", file=sys.stderr)
        sys.exit(1)


# Where a launcher other than Lightning's says which process this is: torchrun (RANK, LOCAL_RANK),
# srun (SLURM_PROCID). Lightning's own launcher passes its processes their overrides itself.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID")


def other_rank_overrides(argv: list[str]) -> list[str]:
    """Hydra overrides for a process that is not rank 0 of a job launched by torchrun or srun: no
    `.hydra/` config files and no log file in the run directory (rank 0 writes both; these
    processes share its hydra.run.dir), and their log lines on their own stderr, not in rank 0's
    log. As Lightning's launcher does for the processes it starts."""
    ranks = [os.environ.get(name, "0") for name in RANK_VARIABLES]
    if all(rank.strip() in ("", "0") for rank in ranks):
        return []
    given = {arg.lstrip("+~").split("=", 1)[0] for arg in argv}
    extra = []
    if "hydra.output_subdir" not in given:
        extra.append("hydra.output_subdir=null")
    if "hydra/job_logging" not in given:
        extra.append("hydra/job_logging=stdout")
    return extra


def convert(key: str, text: str, default):
    """The value of `text` with the type of `default` (int, float, bool, str; None: guess)."""
    if text.lower() in ("null", "none", "~"):
        return None
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = {bool: "a boolean", int: "an integer", float: "a number"}[type(default)]
        raise ConfigError(f"{key}={text} is not {kind}") from None
    if default is None or default is REQUIRED:
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                pass
    return text


def parse_args(
    argv: list[str], options: dict, passthrough: tuple[str, ...] = (), usage: str = ""
) -> tuple[dict, list[str]]:
    """(options, passthrough overrides) from `key=value` arguments."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage.strip() or f"arguments: {' '.join(f'{k}=...' for k in options)}")
        sys.exit(0)
    values, overrides = {}, []
    for arg in argv:
        key, sep, text = arg.partition("=")
        key = key.lstrip("+")
        if not sep or not key:
            raise ConfigError(f"argument {arg!r} is not key=value (known keys: {', '.join(options)})")
        if key in options:
            values[key] = convert(key, text, options[key])
        elif (
            passthrough == ANY_KEY
            or key in passthrough
            or any(p.endswith(".") and key.startswith(p) for p in passthrough)
        ):
            overrides.append(arg)
        else:
            known = ", ".join([*options, *(f"{p}*" if p.endswith(".") else p for p in passthrough)])
            raise ConfigError(f"unknown argument {key!r}; known: {known}")
    missing = [k for k, v in options.items() if v is REQUIRED and k not in values]
    if missing:
        raise ConfigError(f"missing {', '.join(f'{k}=...' for k in missing)}")
    return {**{k: v for k, v in options.items() if v is not REQUIRED}, **values}, overrides
