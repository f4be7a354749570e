"""The frozen-probe run behind `scripts/probe.py`.

The encoder of `checkpoint` (anything `videomae.model_from_checkpoint` reads: our runs and
exports, original MCG-NJU / OpenGVLab `.pth`, transformers directories) is frozen; a grid of heads
(`probe.kind=attentive|linear`, training.probe_module) is trained on the training split and
tested on every view of the evaluation split, or a weighted kNN (`probe.kind=knn`) is read from
the embedded features. One head is chosen by the selection rule (training.probe_data). The run
directory gets checkpoints (heads only: resumable with ckpt_path=last), metrics.csv,
summary.json and probe/metrics.json.
"""

import os
import time

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints import model_from_checkpoint
from videomae.checkpoints.io import read_tensors, save_json, save_torch
from videomae.checkpoints.run_dir import run_checkpoint
from videomae.data.video import CHANNELS, channels_for
from videomae.eval.probe_math import knn_votes, linear_scores
from videomae.training import run_steps
from videomae.training.callbacks import build_callbacks
from videomae.training.configs import build_configs
from videomae.training.finetune_module import accuracies
from videomae.training.probe_data import ProbeDataModule
from videomae.training.probe_module import ProbeModule, head_name
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.training.summary import RunSummary
from videomae.utils.errors import ConfigError


class EpochTimer(pl.Callback):
    """Seconds of each training epoch (validation excluded): the probe's cost per epoch."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def check_config(cfg: DictConfig) -> None:
    """The start-up checks without reading a model (a sweep runs them on every job's config)."""
    configs = build_configs(cfg, "probe")
    resolve_checkpoint(cfg)
    build_datamodule(cfg, configs.protocol())


def resolve_checkpoint(cfg: DictConfig) -> str:
    path = None if OmegaConf.is_missing(cfg, "checkpoint") else cfg.checkpoint
    if path in (None, ""):
        raise ConfigError(
            "checkpoint=PATH is required: a run directory, checkpoint file or transformers directory"
        )
    path = run_checkpoint(str(path))
    if not os.path.exists(path):
        raise ConfigError(f"checkpoint={path} does not exist")
    return path


def checkpoint_args(cfg: DictConfig) -> dict:
    """`checkpoint_args.*`: model arguments a file does not state (an original .pth of a
    non-paper size has no head count: +checkpoint_args.num_heads=12), as convert.py's --set."""
    node = cfg.get("checkpoint_args")
    args = (
        {}
        if node is None
        else OmegaConf.to_container(node, resolve=True)
        if OmegaConf.is_config(node)
        else node
    )
    if not isinstance(args, dict):
        raise ConfigError(
            f"checkpoint_args={args!r}: a mapping of model arguments, e.g. +checkpoint_args.num_heads=12"
        )
    return args


def build_datamodule(cfg: DictConfig, s: ProbeProtocolConfig) -> ProbeDataModule:
    config = run_steps.data_config(cfg)
    for key in ("mean", "std"):  # the encoder normalises with the statistics it was trained with
        if getattr(config, key) is not None:
            raise ConfigError(
                f"data.{key}: a probe normalises with the checkpoint's pixel statistics; leave it null"
            )
    return ProbeDataModule(config, cfg.seed, s)


def check_channels(channels: str, in_chans: int) -> None:
    """The frames the data gives are those the checkpoint's model takes."""
    if CHANNELS[channels] != in_chans:
        try:
            hint = f": set data.channels={channels_for(in_chans)}"
        except ValueError:
            hint = ""
        raise ConfigError(
            f"data.channels={channels} gives {CHANNELS[channels]}-channel frames; "
            f"the checkpoint's model takes {in_chans}{hint}"
        )


def callbacks_config(cfg: DictConfig) -> DictConfig:
    """The run's config as build_callbacks reads it: `probe` here is the protocol, not the online
    probe of pre-training, and `checkpoint` the encoder's path, not the saving period."""
    view = OmegaConf.to_container(cfg, resolve=True)
    view.pop("probe", None)
    view["checkpoint"] = {"every_n_epochs": int(cfg.save_every_n_epochs)}
    return OmegaConf.create(view)


def run(cfg: DictConfig, run_dir: str) -> dict | None:
    """Probe as `cfg` says; returns probe/metrics.json's record on rank 0."""
    run_steps.check_run_dir(cfg, run_dir)
    with RunSummary(run_dir, "probe") as summary:
        s = run_steps.start(cfg, run_dir, "probe").protocol()
        path = resolve_checkpoint(cfg)
        datamodule = build_datamodule(cfg, s)
        plan = datamodule.make_plan()  # reads the index (datamodule.load)
        num_classes = datamodule.num_classes
        if not num_classes:
            raise ConfigError(f"dataset={cfg.data.name} defines no classes: set data.num_classes")
        model, report = model_from_checkpoint(
            path,
            num_frames=int(cfg.data.num_frames),
            img_size=int(cfg.data.input_size),
            **checkpoint_args(cfg),
        )
        encoder = model.encoder
        check_channels(str(cfg.data.channels), encoder.patch_embed.proj.in_channels)
        info = {"checkpoint": os.path.abspath(path), "layout": report.layout, "embed_dim": encoder.embed_dim}
        summary.update(model={**info, "depth": len(encoder.blocks)})
        module = ProbeModule(num_classes, s, model.encoder.embed_dim, cfg.seed, datamodule.classes,
                             OmegaConf.to_container(cfg, resolve=True))  # fmt: skip
        module.attach_encoder(model)
        timer = EpochTimer()
        cached = s.kind == "knn" or s.cached
        ckpt_path = run_steps.resume_from(cfg, run_dir, datamodule) if not cached else None
        callbacks = [*build_callbacks(callbacks_config(cfg), run_dir), summary.callback, timer]
        trainer = run_steps.build_trainer(cfg, run_dir, callbacks=callbacks, resuming=ckpt_path is not None)
        grid = (s.knn_k, s.knn_temperature) if s.kind == "knn" else (s.lrs, s.weight_decays)
        heads = len(grid[0]) * len(grid[1])
        if trainer.is_global_zero:
            print(report.summary())
            print(
                f"probe {s.kind} on {cfg.data.name}: {len(plan['train'])} training videos, "
                f"selection: {plan['rule']} ({plan['selection_split']}), evaluation: {plan['eval_split']} "
                f"({len(plan['eval'])} videos); {heads} heads"
            )
        if cached:
            selection, evaluation = cached_results(trainer, module, datamodule, s, run_dir, num_classes)
        else:
            run_steps.fit(trainer, module, datamodule, ckpt_path, run_dir)
            if plan["selection"] and module.selection_step != trainer.global_step:
                trainer.validate(module, datamodule=datamodule, verbose=False)
            datamodule.stage_split = "eval"
            trainer.test(module, datamodule=datamodule, verbose=False)
            selection, evaluation = module.results.get("selection"), module.results["test"]
        if not trainer.is_global_zero:
            return None
        record = metrics_record(cfg, s, plan, path, report, datamodule, selection, evaluation, timer)
        save_json(record, os.path.join(run_dir, "probe", "metrics.json"))
        print_record(record)
        chosen = record["chosen"]
        summary.update(**{f"probe/{k}": chosen[k] for k in ("top1", "top5", "mean_class")},
                       probe_head=chosen["head"], probe_kind=s.kind, probe_selection=plan["rule"],
                       epoch_time_s=record["epoch_time_s"], checkpoint=os.path.abspath(path))  # fmt: skip
        return record


def embed(trainer, module: ProbeModule, datamodule: ProbeDataModule, split: str) -> dict:
    datamodule.stage_split = split
    trainer.test(module, datamodule=datamodule, verbose=False)
    return module.results["test_data"]


def cached_results(trainer, module, datamodule, s: ProbeProtocolConfig, run_dir: str, num_classes: int):
    """Per kNN (k, temperature), or per linear (lr, weight decay) with `probe.cached`: metrics on
    the selection split (None without one) and the evaluation split, from features embedded once
    (and kept in RUN/probe/features.pt with probe.cache). The cached linear probe is full-batch on
    standardised features (BatchNorm's statistics, no augmentation), `probe.linear_steps` steps."""
    cache = os.path.join(run_dir, "probe", "features.pt")
    key = {"checkpoint": str(module.hparams.config["checkpoint"]), "layer": s.layer, "clips": s.clips,
           "data": module.hparams.config["data"], "select": datamodule.plan["rule"]}  # fmt: skip
    feats = None
    if s.cache and os.path.isfile(cache):
        stored, _ = read_tensors(cache)
        feats = stored["features"] if stored.get("key") == key else None
        if feats is not None and trainer.is_global_zero:
            print(f"probe: features from {cache} (same checkpoint, layer, views and data)")
    if feats is None:
        splits = ["train", "eval"] + (["selection"] if datamodule.plan["selection"] else [])
        feats = {split: embed(trainer, module, datamodule, split) for split in splits}
        if s.cache and trainer.is_global_zero:
            save_torch({"key": key, "features": feats}, cache)
    x, y = feats["train"]["features"], feats["train"]["label"]
    grid: dict[str, tuple[float, float]]  # (k, temperature) or (lr, weight decay)
    if s.kind == "knn":
        grid = {f"k{k}_t{t:g}": (k, t) for k in s.knn_k for t in s.knn_temperature}
    else:
        grid = {head_name(lr, wd): (lr, wd) for lr in s.lrs for wd in s.weight_decays}
    out: dict[str, dict] = {"selection": {}, "eval": {}}
    for name, (a, b) in grid.items():
        for part in ("selection", "eval"):
            if part not in feats:
                continue
            other = feats[part]["features"]
            if s.kind == "knn":
                scores = knn_votes(x, y, other, int(a), b, num_classes)
            else:
                scores = linear_scores(x, y, other, num_classes, s.linear_steps, a, b)
            videos = len(feats[part]["label"])
            out[part][name] = {**accuracies(scores, feats[part]["label"], num_classes), "videos": videos}
    return out["selection"] or None, out["eval"]


def metrics_record(
    cfg, s: ProbeProtocolConfig, plan, path, report, datamodule, selection, evaluation, timer
) -> dict:
    """probe/metrics.json: every head on the evaluation split (and the selection split), the
    chosen head and how it was chosen, the protocol, the checkpoint, the views."""
    rule = plan["rule"]
    scores = evaluation if rule == "eval" or not selection else selection
    best = max(scores, key=lambda name: (scores[name]["top1"], -list(scores).index(name)))
    how = {
        "val": "best top-1 on the validation split; reported on the test split",
        "holdout": f"best top-1 on {plan['selection_split']} (not trained on); "
        f"reported on the {plan['eval_split']} split",
        "eval": "best top-1 on the evaluation split itself, as V-JEPA 2 reports: "
        "a selection on the reported split",
    }[rule]
    heads = [
        {"head": name, "eval": evaluation[name], "selection": (selection or {}).get(name)}
        for name in evaluation
    ]
    seconds = timer.seconds
    return {
        "protocol": {**s.as_dict(), "name": s.name or s.kind},
        "checkpoint": {
            "path": os.path.abspath(path),
            "layout": report.layout,
            "description": report.summary().splitlines()[0],
        },
        "dataset": cfg.data.name,
        "data_root": datamodule.data_dir,
        "splits": {
            "train": len(plan["train"]),
            "selection": len(plan["selection"] or []),
            "eval": len(plan["eval"]),
        },
        "views": {
            "clips_per_view": s.clips,
            "temporal_views": s.temporal_views,
            "spatial_crops": datamodule.config.test_crops,
            "views": s.temporal_views * datamodule.config.test_crops,
            "num_frames": datamodule.config.num_frames,
            "input_size": datamodule.config.input_size,
        },  # fmt: skip
        "selection": {"rule": rule, "split": plan["selection_split"], "how": how},
        "eval_split": plan["eval_split"],
        "heads": heads,
        "chosen": {
            "head": best,
            **evaluation[best],
            "selection_top1": (selection or {}).get(best, {}).get("top1"),
        },
        "epoch_time_s": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "epochs_timed": len(seconds),
    }


def print_record(record: dict) -> None:
    chosen = record["chosen"]
    print(f"probe heads on the {record['eval_split']} split ({record['views']['views']} views per video):")
    for head in record["heads"]:
        sel = head["selection"]
        note = f"  (selection top-1 {sel['top1']:.2f}%)" if sel else ""
        print(f"  {head['head']:<22} top-1 {head['eval']['top1']:6.2f}%  top-5 {head['eval']['top5']:6.2f}%"
              f"  mean class {head['eval']['mean_class']:6.2f}%{note}")  # fmt: skip
    print(f"chosen: {chosen['head']} ({record['selection']['how']}): top-1 {chosen['top1']:.2f}%, "
          f"top-5 {chosen['top5']:.2f}%, mean class {chosen['mean_class']:.2f}%")  # fmt: skip
    if record["epoch_time_s"] is not None:
        print(f"time per probe epoch: {record['epoch_time_s']:.2f} s (mean of {record['epochs_timed']})")
