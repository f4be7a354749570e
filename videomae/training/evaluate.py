"""The multi-view test behind `scripts/evaluate.py`: a fine-tuned checkpoint on its dataset's test
split, every clip x crop view of each video, softmax averaged per video; accuracies printed and
written to eval/metrics.json, one row per video to eval/predictions.csv."""

import csv
import os

import torch
from omegaconf import OmegaConf

from videomae.checkpoints.hub import EVAL_METRICS
from videomae.checkpoints.io import read_tensors, save_json
from videomae.checkpoints.run_dir import run_checkpoint, run_dir_of
from videomae.training.configs import build_configs
from videomae.training.finetune_module import FinetuneModule
from videomae.training.run_steps import build_trainer, check_fresh_dir, labeled_datamodule, quiet_warnings
from videomae.training.summary import RunSummary, model_info
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import CheckpointError, ConfigError


def load_finetuned(path: str, ema: bool = False) -> tuple[FinetuneModule, dict]:
    """The FinetuneModule a fine-tuning checkpoint describes, with its weights; and its config."""
    path = run_checkpoint(path)
    if os.path.isdir(path):
        raise ConfigError(
            f"checkpoint={path} is a folder without checkpoints/last.ckpt: give a fine-tuning run "
            "directory or one of its checkpoints"
        )
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint={path} does not exist")
    ckpt, _ = read_tensors(path)  # the one safe reader: no code runs, one-line errors
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "num_classes" not in hp or "config" not in hp:
        raise CheckpointError(
            f"{path}: not a fine-tuning checkpoint of this framework (no num_classes/config in its "
            "hyper_parameters); fine-tune it with scripts/finetune.py pretrained=PATH first"
        )
    has_ema = "ema_state_dict" in ckpt
    if ema and not has_ema:
        raise ConfigError(f"ema=true: {path} has no EMA weights (fine-tune with ema.enabled=true)")
    hp = {**hp, "ema": {**(hp.get("ema") or {}), "enabled": has_ema}, "compile": False}
    module = FinetuneModule(**hp)
    module.on_load_checkpoint(ckpt)
    module.load_state_dict(ckpt["state_dict"])
    module.use_ema = ema
    module.checkpoint_step = (ckpt.get("global_step"), ckpt.get("epoch"))  # for eval/metrics.json
    return module, hp["config"]


def evaluate(
    checkpoint: str, overrides: list[str] | None = None, out_dir: str | None = None, ema: bool = False
):
    """Multi-view test of a fine-tuned checkpoint on its dataset's test split (clips x crops per
    video, softmax averaged per video). Writes predictions.csv to `out_dir` (default: the run's
    eval/ directory) and returns the metrics (top1, top5, mean_class, in %) on rank 0. The output
    directory gets a summary.json."""
    quiet_warnings()
    checkpoint = run_checkpoint(checkpoint)
    overrides = [o.removeprefix("+") for o in overrides or []]
    if out_dir is None:
        out_dir = os.path.join(run_dir_of(checkpoint), "eval")
    defining = [f"checkpoint={checkpoint}", *overrides, *(["ema=true"] if ema else [])]
    check_fresh_dir(out_dir, "out")  # before summary.json: a user's files are never replaced
    with RunSummary(out_dir, "evaluate", overrides=defining) as summary:
        results = test_checkpoint(checkpoint, overrides, out_dir, ema, summary)
    return results


def test_checkpoint(checkpoint: str, overrides: list[str], out_dir: str, ema: bool, summary: RunSummary):
    """The multi-view test itself (see evaluate)."""
    module, config = load_finetuned(checkpoint, ema)
    cfg = OmegaConf.create(config)
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    build_configs(cfg, "finetune")  # the recorded settings, read as a run reads its own
    summary.update(model=model_info(cfg), checkpoint=checkpoint)
    datamodule = labeled_datamodule(cfg)
    if datamodule.num_classes != module.hparams.num_classes:
        raise ConfigError(
            f"the checkpoint has {module.hparams.num_classes} classes, dataset={cfg.data.name} "
            f"{datamodule.num_classes}"
        )
    trainer = build_trainer(cfg, out_dir, logger=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    results = module.test_results
    if not trainer.is_global_zero:
        return None
    assert results is not None, "trainer.test ran on_test_epoch_end, which sets test_results"
    assert datamodule.test_set is not None, "trainer.test ran the datamodule's setup('test')"
    samples = datamodule.test_set.samples
    classes = module.hparams.classes or [str(i) for i in range(module.hparams.num_classes)]
    path = write_predictions(os.path.join(out_dir, "predictions.csv"), results, samples, classes, datamodule)
    m = results["metrics"]
    views = datamodule.config.test_clips * datamodule.config.test_crops
    print(
        f"test: {len(results['video_id'])} of {len(samples)} videos, {datamodule.config.test_clips} clips x "
        f"{datamodule.config.test_crops} crops = {views} views each{' (EMA weights)' if ema else ''}: "
        f"top-1 {m['top1']:.2f}%, top-5 {m['top5']:.2f}%, mean class {m['mean_class']:.2f}%"
    )
    per_class = per_class_accuracy(results["probs"], results["label"], classes)
    print_per_class(per_class)
    print(f"predictions: {path}")
    step, epoch = module.checkpoint_step
    record = {
        **m,
        "videos": len(results["video_id"]),
        "dataset": cfg.data.name,
        "split": "test",
        "test_clips": datamodule.config.test_clips,
        "test_crops": datamodule.config.test_crops,
        "ema": bool(ema),
        "checkpoint": os.path.abspath(checkpoint),
        "global_step": step,
        "epoch": epoch,
        "per_class": per_class,
    }
    save_json(record, os.path.join(out_dir, EVAL_METRICS))  # what an HF export's model card reports
    summary.update(
        **{f"test/{k}": m[k] for k in ("top1", "top5", "mean_class")},
        test_videos=len(results["video_id"]),
        test_views=views,
        predictions=path,
    )
    return {**m, "videos": len(results["video_id"]), "predictions": path, "per_class": per_class}


def per_class_accuracy(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, dict]:
    """name -> {"videos": n, "top1": %} for every class with test videos, in label order."""
    predicted = probs.argmax(dim=1)
    out = {}
    for c, name in enumerate(classes):
        hits = predicted[labels == c] == c
        if len(hits):
            out[name] = {"videos": len(hits), "top1": 100.0 * hits.float().mean().item()}
    return out


def print_per_class(per_class: dict[str, dict], limit: int = 30) -> None:
    """Every class when there are few; else the `limit` worst (all are in eval/metrics.json)."""
    rows = list(per_class.items())
    title = "per-class top-1"
    if len(rows) > limit:
        rows = sorted(rows, key=lambda row: row[1]["top1"])[:limit]
        title += f" (the {limit} lowest of {len(per_class)}; all in eval/{EVAL_METRICS})"
    print(f"{title}:")
    width = max((len(name) for name, _ in rows), default=0)
    for name, row in rows:
        print(f"  {name:<{width}}  {row['top1']:6.2f}%  ({row['videos']} videos)")


def write_predictions(path: str, results: dict, samples, classes: list[str], datamodule) -> str:
    """One row per test video: its path, label, prediction, top-5 and the predicted probability."""
    root = datamodule.data_dir
    probs = results["probs"]
    top5 = probs.topk(min(5, probs.shape[1]), dim=1)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "path", "label", "label_name", "predicted", "predicted_name",
                         "correct", "probability", "top5"])  # fmt: skip
        for row, video_id in enumerate(results["video_id"].tolist()):
            video, label = samples[video_id]
            rel = os.path.relpath(video, root) if video.startswith(root) else video
            pred = int(top5.indices[row, 0])
            writer.writerow([
                video_id, rel, label, classes[label] if 0 <= label < len(classes) else "",
                pred, classes[pred],
                int(pred == label), f"{float(top5.values[row, 0]):.4f}",
                " ".join(str(int(i)) for i in top5.indices[row]),
            ])  # fmt: skip
    return path
