"""The runs under some directories, as their `summary.json` (or Hydra's `.hydra/`) describes them."""

import json
import os
from dataclasses import dataclass, field

from omegaconf import OmegaConf

FILENAME = "summary.json"  # videomae.training.summary writes it (not imported: no Lightning needed here)
SKIP_DIRS = {".submitit", ".hydra", "checkpoints", "pictures", "wandb", "__pycache__"}


@dataclass
class Run:
    path: str
    summary: dict = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    status: str = "unknown"
    kind: str = ""
    problems: list[str] = field(default_factory=list)  # what in its files could not be used, and why

    @property
    def metrics_csv(self) -> str:
        return os.path.join(self.path, "metrics.csv")


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`key=value` strings (as Hydra records them) -> {key: value}; `+key` and `~key` as `key`."""
    out: dict[str, str] = {}
    if not isinstance(overrides, list | tuple):
        return out
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def find_runs(paths: list[str]) -> list[Run]:
    """Every run under `paths` (run directories, sweep directories, or folders of either)."""
    runs, seen = [], set()
    for top in paths:
        if not os.path.isdir(top):
            raise FileNotFoundError(f"{top} is not a directory")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            is_run = FILENAME in filenames or os.path.isdir(os.path.join(dirpath, ".hydra"))
            real = os.path.realpath(dirpath)
            if is_run and real not in seen:
                seen.add(real)
                runs.append(load_run(dirpath))
    return fold_tests_into_runs(runs)


def fold_tests_into_runs(runs: list[Run]) -> list[Run]:
    """A fine-tuning run's own test (`RUN/eval/summary.json`, from test=true or a later
    scripts/evaluate.py) adds its test/* metrics to that run's row instead of a row of its own."""
    by_path = {os.path.realpath(run.path): run for run in runs}
    kept = []
    for run in runs:
        parent = by_path.get(os.path.realpath(os.path.dirname(run.path)))
        folded = (
            run.kind == "evaluate"
            and os.path.basename(run.path) == "eval"
            and parent is not None
            and parent.kind == "finetune"
        )
        if not folded:
            kept.append(run)
            continue
        assert parent is not None  # folded requires it
        for key, value in run.summary.items():
            if key.startswith("test/") and parent.summary.get(key) is None:
                parent.summary[key] = value
    return kept


def load_run(path: str) -> Run:
    """A run as its files describe it. A file that cannot be used (not JSON, not an object, not
    UTF-8, ...) never stops the report: the run says so in `problems` and in its row."""
    run = Run(path=path)
    summary_path = os.path.join(path, FILENAME)
    if os.path.isfile(summary_path):
        try:
            with open(summary_path, encoding="utf-8") as f:
                summary = json.load(f)
            if not isinstance(summary, dict):
                kind = {list: "list", str: "string", bool: "boolean"}.get(type(summary), "number")
                raise ValueError(f"holds a JSON {'null' if summary is None else kind}, not an object")
            run.summary = summary
            run.status = str(run.summary.get("status", "unknown"))
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; json recurses once per [ or {
        except (OSError, ValueError, RecursionError) as err:
            why = "JSON nested too deeply to read" if isinstance(err, RecursionError) else err
            run.status = "unreadable"
            run.summary = {"error": f"{FILENAME}: {why}"}
            run.problems.append(f"{FILENAME}: {why}: its row has no metrics")
    else:
        run.status = "no summary"  # started before summaries existed, or died before writing one
    run.kind = str(run.summary.get("kind", ""))
    overrides = run.summary.get("overrides")
    if overrides is not None and not isinstance(overrides, list):
        run.problems.append(f"{FILENAME}: overrides={str(overrides)[:60]}: not a list of KEY=VALUE: ignored")
        overrides = None
    if overrides is None:
        overrides = _hydra_overrides(run)
    run.overrides = parse_overrides(overrides or [])
    run.overrides.update(pretraining_overrides(run.summary.get("pretrained")))
    return run


def _hydra_overrides(run: Run) -> list:
    """The overrides Hydra recorded in `.hydra/overrides.yaml` ([] when absent or unusable)."""
    path = os.path.join(run.path, ".hydra", "overrides.yaml")
    if not os.path.isfile(path):
        return []
    try:
        overrides = OmegaConf.to_container(OmegaConf.load(path))
    except Exception as err:  # noqa: BLE001 - yaml and OmegaConf raise many types for a bad file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        run.problems.append(f".hydra/overrides.yaml: not readable ({first[:120]}): overrides ignored")
        return []
    if overrides is not None and not isinstance(overrides, list):
        run.problems.append(".hydra/overrides.yaml: not a list of KEY=VALUE: overrides ignored")
        return []
    return overrides or []


def pretraining_overrides(pretrained) -> dict[str, str]:
    """A fine-tuning run's link to its pre-training (or distillation): that run's overrides as
    `pretrain:KEY` columns, so fine-tuned accuracy lines up with, say, the pre-training's mask ratio
    or the distillation's target."""
    if not pretrained or not isinstance(pretrained, str):
        return {}
    path = os.path.abspath(os.path.expanduser(pretrained))
    if not os.path.isdir(path):  # RUN/checkpoints/last.ckpt -> RUN
        path = os.path.dirname(path)
        if os.path.basename(path) == "checkpoints":
            path = os.path.dirname(path)
    summary_path = os.path.join(path, FILENAME)
    try:
        with open(summary_path, encoding="utf-8") as f:
            linked = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(linked, dict) or linked.get("kind") not in ("pretrain", "distill"):
        return {}
    return {f"pretrain:{k}": v for k, v in parse_overrides(linked.get("overrides") or []).items()}
