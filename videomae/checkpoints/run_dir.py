"""Where a run directory keeps its checkpoints (the one place that knows `checkpoints/last.ckpt`),
and what a run directory of this framework holds."""

import json
import os
import re

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINTS)


def last_checkpoint(run_dir: str) -> str:
    """RUN/checkpoints/last.ckpt, rewritten (atomically) at every epoch end."""
    return os.path.join(run_dir, CHECKPOINTS, LAST)


def run_checkpoint(path: str) -> str:
    """A run directory that holds a last.ckpt means that checkpoint; any other path is returned as
    it is (a checkpoint file, a transformers directory, or a path that does not exist)."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path) and os.path.isfile(last_checkpoint(path)):
        return last_checkpoint(path)
    return path


def run_dir_of(checkpoint: str) -> str:
    """RUN/checkpoints/NAME.ckpt -> RUN; a checkpoint anywhere else -> its directory."""
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(str(checkpoint))))
    return os.path.dirname(parent) if os.path.basename(parent) == CHECKPOINTS else parent


# What a run of this framework (Hydra, Lightning and its loggers included) writes into its run
# directory: a fresh run may replace these when an earlier run of ours wrote them, nothing else.
RUN_FILES = frozenset(
    {
        ".hydra",  # Hydra: config.yaml, hydra.yaml, overrides.yaml
        CHECKPOINTS,
        "metrics.csv",  # logger=csv
        "hparams.yaml",  # logger=csv|tensorboard
        "wandb",  # logger=wandb
        "summary.json",
        "skipped_videos.txt",
        "pictures",  # reconstruction pictures
        "probe.json",
        "eval",  # fine-tuning's test=true
        "predictions.csv",  # scripts/evaluate.py (in eval/ or out=DIR)
        "metrics.json",
        "probe",  # scripts/probe.py: probe/metrics.json, probe/features.pt
    }
)
# Hydra's job log (`<script>.log`), SLURM requeue checkpoints, TensorBoard events, temporary files.
RUN_PATTERNS = re.compile(
    r"^((pretrain|finetune|distill|evaluate|probe)\.log|hpc_ckpt_\d+\.ckpt|events\.out\.tfevents\..+"
    r"|\..+\.[0-9a-f]{32}\.tmp|probe\.json\.tmp)$"
)
# What Hydra writes into the run directory before the run's own code starts.
HYDRA_FILES = re.compile(r"^(\.hydra|(pretrain|finetune|distill|evaluate|probe)\.log)$")
RUN_KINDS = ("pretrain", "finetune", "distill", "evaluate", "probe")


def foreign_entries(run_dir: str) -> list[str]:
    """The entries of `run_dir` that no run of this framework writes (sorted)."""
    if not os.path.isdir(run_dir):
        return []
    return sorted(e for e in os.listdir(run_dir) if e not in RUN_FILES and not RUN_PATTERNS.match(e))


def earlier_run(run_dir: str) -> bool:
    """Whether `run_dir` holds the summary.json a run of this framework writes when it starts."""
    try:
        with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("kind") in RUN_KINDS and "started_at" in summary
