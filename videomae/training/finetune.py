"""The fine-tuning run behind `scripts/finetune.py`, and the multi-view test behind `scripts/evaluate.py`.

Fine-tuning: a classifier whose encoder comes from `pretrained` (a pre-training run directory or
checkpoint, an original MCG-NJU checkpoint, a transformers directory: whatever
`videomae.load_weights` reads; null: from scratch), trained with the paper's recipe, validated
every epoch on one centre view per video. Its checkpoints describe themselves (model, classes,
dataset, the whole config), so `evaluate` needs nothing but the checkpoint.
"""

import csv
import os
import warnings

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints import load_weights
from videomae.checkpoints.hub import EVAL_METRICS, pretraining_record
from videomae.checkpoints.io import atomic_path, read_tensors, save_json
from videomae.config_schema import validate_config
from videomae.data.datamodule import VideoDataModule
from videomae.errors import CheckpointError, ConfigError
from videomae.training import pretrain
from videomae.training.finetune_module import FinetuneModule
from videomae.training.pretrain import (
    build_callbacks,
    build_datamodule,
    build_trainer,
    clean_run_dir,
    fit,
    model_kwargs,
    optim_hparams,
    resume_from,
)
from videomae.training.summary import RunSummary, model_info


def quiet_warnings() -> None:
    # The module, not the datamodule, owns device-side batch handling: that is intended.
    warnings.filterwarnings("ignore", message=r".*overridden `on_(before|after)_batch_transfer`")
    # The multi-view test drops the distributed sampler's padded repeats by video id.
    warnings.filterwarnings("ignore", message=r".*it is recommended to use `Trainer\(devices=1")
    warnings.filterwarnings(
        "ignore", message=r".*module\(s\) in eval mode at the start of training"
    )  # the EMA copy


def resolve_pretrained(path: str) -> str:
    """A run directory means its checkpoints/last.ckpt; files and transformers directories as they are."""
    path = os.path.expanduser(str(path))
    run_ckpt = os.path.join(path, "checkpoints", "last.ckpt")
    if os.path.isdir(path) and os.path.isfile(run_ckpt):
        return run_ckpt
    if not os.path.exists(path):
        raise ConfigError(
            f"pretrained={path} does not exist (give a pre-training run directory, a checkpoint file, "
            "or a transformers model directory; null trains from scratch)"
        )
    return path


def prepared_datamodule(cfg: DictConfig) -> VideoDataModule:
    """The fine-tuning datamodule with its index read, so that classes are known up front."""
    datamodule = build_datamodule(cfg, mode="finetune")
    datamodule.prepare_data()  # the demo's videos, generated once (atomic: concurrent ranks are fine)
    if datamodule.index is None:
        datamodule.index = datamodule.load_index()
    if not datamodule.num_classes:
        raise ConfigError(
            f"data.num_classes is not set and dataset={cfg.data.name} defines no classes; "
            "set data.num_classes"
        )
    return datamodule


def build_module(cfg: DictConfig, datamodule: VideoDataModule) -> FinetuneModule:
    classes = datamodule.classes
    num_classes = datamodule.num_classes
    return FinetuneModule(
        model=model_kwargs(cfg),
        num_classes=num_classes,
        optim=optim_hparams(cfg),
        mixup=OmegaConf.to_container(cfg.mixup, resolve=True),
        ema=OmegaConf.to_container(cfg.ema, resolve=True),
        seed=cfg.seed,
        classes=list(classes) if classes and len(classes) == num_classes else None,
        dataset=cfg.data.name,
        config=OmegaConf.to_container(cfg, resolve=True),
        compile=cfg.compile,
        pretrained_record=pretraining_record(cfg.pretrained),
    )


def load_pretrained(module: FinetuneModule, pretrained: str | None, rank_zero: bool = True) -> str:
    """Load the encoder from `pretrained`; returns the load summary (what was loaded, kept, ignored)."""
    if pretrained in (None, "", "null"):
        return "pretrained=null: training from scratch (every weight at its initial value)"
    path = resolve_pretrained(pretrained)
    report = load_weights(module.model, path)  # shape mismatches raise, naming every key
    if module.model_ema is not None:
        module.model_ema.module.load_state_dict(module.model.state_dict())
    return report.summary()


def check_config(cfg: DictConfig) -> None:
    """Start-up checks without building the model or reading data (see pretrain.check_config)."""
    check_ema(cfg)
    pretrain.check_config(cfg, mode="finetune")  # model, data, logger, progress, ckpt_path
    if cfg.pretrained not in (None, "", "null"):
        resolve_pretrained(cfg.pretrained)


def check_ema(cfg: DictConfig) -> None:
    if cfg.ema.enabled and cfg.trainer.strategy == "fsdp":  # timm's EMA update needs unsharded weights
        raise ConfigError(
            "ema.enabled=true does not work with trainer.strategy=fsdp; set ema.enabled=false or "
            "trainer.strategy=ddp"
        )


def run(cfg: DictConfig, run_dir: str) -> str:
    """Fine-tune as `cfg` says; returns the path of the last checkpoint. The run directory gets a
    summary.json (status, overrides, steps, speed, losses, best and final accuracy, checkpoint)."""
    with RunSummary(run_dir, "finetune", model_info(cfg)) as summary:
        last = train(cfg, run_dir, summary)
        pretrained = cfg.pretrained
        if pretrained not in (None, "", "null"):
            pretrained = os.path.abspath(os.path.expanduser(str(pretrained)))
        summary.update(checkpoint=last, pretrained=pretrained)
    return last


def train(cfg: DictConfig, run_dir: str, run_summary: RunSummary) -> str:
    """The fine-tuning itself (and the test when cfg.test); `run_summary` collects its statistics."""
    check_ema(cfg)
    validate_config(cfg)
    quiet_warnings()
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    clean_run_dir(run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = prepared_datamodule(cfg)
    module = build_module(cfg, datamodule)
    ckpt_path = resume_from(cfg, run_dir, datamodule)
    summary = load_pretrained(module, cfg.pretrained) if ckpt_path is None else f"resuming {ckpt_path}"
    callbacks = [*build_callbacks(cfg, checkpoint_dir, run_dir), run_summary.callback]
    trainer = build_trainer(cfg, run_dir, callbacks=callbacks)
    if trainer.is_global_zero:
        print(f"fine-tuning {cfg.model.name} on {cfg.data.name} ({module.hparams.num_classes} classes)")
        print(summary)
    fit(trainer, module, datamodule, ckpt_path, run_dir)
    last = os.path.join(checkpoint_dir, "last.ckpt")
    if trainer.is_global_zero:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/top")}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(metrics.items()))
        print(f"fine-tuning done: {trainer.global_step} steps; {shown}; checkpoint: {last}")
    if cfg.get("test"):
        results = evaluate(last, out_dir=os.path.join(run_dir, "eval"))
        if results is not None:
            run_summary.update(**{f"test/{k}": results[k] for k in ("top1", "top5", "mean_class")})
    return last


# --- multi-view test ------------------------------------------------------------------------------


def finetuned_path(path: str) -> str:
    """A run directory means its checkpoints/last.ckpt."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "checkpoints", "last.ckpt")):
        return os.path.join(path, "checkpoints", "last.ckpt")
    return path


def load_finetuned(path: str, ema: bool = False) -> tuple[FinetuneModule, dict]:
    """The FinetuneModule a fine-tuning checkpoint describes, with its weights; and its config."""
    path = finetuned_path(path)
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
    checkpoint = finetuned_path(checkpoint)
    overrides = [o.removeprefix("+") for o in overrides or []]
    if out_dir is None:
        ckpt_dir = os.path.dirname(os.path.abspath(checkpoint))
        run_dir = os.path.dirname(ckpt_dir) if os.path.basename(ckpt_dir) == "checkpoints" else ckpt_dir
        out_dir = os.path.join(run_dir, "eval")
    defining = [f"checkpoint={checkpoint}", *overrides, *(["ema=true"] if ema else [])]
    with RunSummary(out_dir, "evaluate", overrides=defining) as summary:
        results = test_checkpoint(checkpoint, overrides, out_dir, ema, summary)
    return results


def test_checkpoint(checkpoint: str, overrides: list[str], out_dir: str, ema: bool, summary: RunSummary):
    """The multi-view test itself (see evaluate)."""
    module, config = load_finetuned(checkpoint, ema)
    cfg = OmegaConf.create(config)
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    validate_config(cfg)
    summary.update(model=model_info(cfg), checkpoint=checkpoint)
    datamodule = prepared_datamodule(cfg)
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
    samples = datamodule.test_set.samples
    classes = module.hparams.classes or [str(i) for i in range(module.hparams.num_classes)]
    path = write_predictions(os.path.join(out_dir, "predictions.csv"), results, samples, classes, datamodule)
    m = results["metrics"]
    views = datamodule.test_clips * datamodule.test_crops
    print(
        f"test: {len(results['video_id'])} of {len(samples)} videos, {datamodule.test_clips} clips x "
        f"{datamodule.test_crops} crops = {views} views each{' (EMA weights)' if ema else ''}: "
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
        "test_clips": datamodule.test_clips,
        "test_crops": datamodule.test_crops,
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
