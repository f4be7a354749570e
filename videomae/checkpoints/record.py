"""The training record of an export, as our checkpoints and run directories keep it.

Read from our Lightning checkpoints (their hyper-parameters carry the run's config, class names
and where the encoder came from), the run directory's `.hydra/config.yaml` and the
`eval/metrics.json` that `scripts/evaluate.py` writes.
"""

import json
import os
from pathlib import Path

import yaml

from videomae.checkpoints.io import load_torch
from videomae.checkpoints.run_dir import run_checkpoint, run_dir_of

EVAL_METRICS = "metrics.json"  # in the run's eval/ directory, next to predictions.csv


def _load_torch(path: Path):
    """weights_only, as every checkpoint read here: no code from the file runs."""
    try:  # mmap: only the few metadata entries are read, not gigabytes of weights
        return load_torch(path, mmap=True)
    except RuntimeError:  # a file of the legacy (non-zip) format cannot be memory-mapped
        return load_torch(path)


def _hydra_config(run_dir: Path) -> dict | None:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _lightning(path: Path) -> dict | None:
    """Our Lightning checkpoint's contents (weights memory-mapped), or None for anything else."""
    if not path.is_file() or path.suffix in (".safetensors", ".json"):
        return None
    try:
        obj = _load_torch(path)
    except Exception:  # noqa: BLE001 - not ours to read here; the loader reports a broken file
        return None
    if isinstance(obj, dict) and isinstance(obj.get("hyper_parameters"), dict):
        return obj
    return None


def pretraining_record(path: str | None) -> dict | None:
    """Where a fine-tuned encoder came from: the checkpoint and what its pre-training run recorded.

    None when fine-tuning started from scratch. Recorded in the fine-tuning checkpoint at start-up,
    so the card still knows after the pre-training run directory has moved.
    """
    if path in (None, "", "null"):
        return None
    ckpt = Path(run_checkpoint(str(path)))
    record: dict = {"checkpoint": str(path)}
    obj = _lightning(ckpt)
    if obj is not None:
        hp = obj["hyper_parameters"]
        cfg = _hydra_config(Path(run_dir_of(str(ckpt)))) or {}
        record.update(
            layout="lightning",
            model=(hp.get("model") or {}).get("name"),
            mask=hp.get("mask"),
            global_step=obj.get("global_step"),
            epoch=obj.get("epoch"),
            max_epochs=(cfg.get("trainer") or {}).get("max_epochs"),
            dataset=(cfg.get("data") or {}).get("name"),
        )
    elif ckpt.is_dir():
        record["layout"] = "hf"
    elif ckpt.is_file() and ckpt.suffix in (".pth", ".pt", ".bin"):
        try:
            obj = _load_torch(ckpt)
        except Exception:  # noqa: BLE001 - loading the weights reports a broken file, clearly
            obj = None
        args = obj.get("args") if isinstance(obj, dict) else None
        args = vars(args) if args is not None and hasattr(args, "__dict__") else {}
        record["layout"] = "original"
        if args:  # the original code's argparse options
            record.update(
                model=args.get("model"),
                mask={"type": args.get("mask_type"), "ratio": args.get("mask_ratio")},
                max_epochs=args.get("epochs"),
                dataset=args.get("data_set") or args.get("data_path"),
            )
    return {k: v for k, v in record.items() if v is not None}


def training_record(path: str | Path, task: str | None = None) -> dict | None:
    """What one of our Lightning checkpoints (or run directories) says about its run, for the card.

    None for files of other layouts: their card describes only the model. `task`: the exported
    model's; a classifier built from a pre-training checkpoint has that run as its pre-training.
    """
    ckpt = Path(run_checkpoint(str(path)))
    obj = _lightning(ckpt)
    if obj is None:
        return None
    hp = obj["hyper_parameters"]
    run_dir = Path(run_dir_of(str(ckpt)))
    stage = "finetune" if "num_classes" in hp else "pretrain"
    if stage == "pretrain" and task == "classification":
        return {"stage": "finetune", "config": None, "pretrained": pretraining_record(str(ckpt))}
    config = hp.get("config") if stage == "finetune" else None
    config = config or _hydra_config(run_dir)
    record = {
        "stage": stage,
        "checkpoint": ckpt.name,
        "global_step": obj.get("global_step"),
        "epoch": obj.get("epoch"),
        "config": config,
        "mask": hp.get("mask"),
        "classes": hp.get("classes"),
    }
    if stage == "finetune":
        pretrained = (config or {}).get("pretrained")
        if "pretrained_record" in hp:
            record["pretrained"] = hp["pretrained_record"]
        elif pretrained not in (None, "", "null"):  # checkpoints from before the record existed
            found = os.path.exists(run_checkpoint(pretrained))
            record["pretrained"] = pretraining_record(pretrained) if found else {"checkpoint": pretrained}
        else:
            record["pretrained"] = None
        record["evaluation"] = _evaluation(run_dir, ckpt.name, obj.get("global_step"))
    return record


def _evaluation(run_dir: Path, ckpt_name: str, step) -> dict | None:
    """eval/metrics.json, if it measured this checkpoint (same file, same step): a later run that
    rewrote last.ckpt makes an old evaluation stale."""
    path = run_dir / "eval" / EVAL_METRICS
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    if Path(metrics.get("checkpoint", "")).name != ckpt_name or metrics.get("global_step") != step:
        return None
    return metrics
