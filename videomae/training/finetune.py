"""The fine-tuning run behind `scripts/finetune.py`.

A classifier whose encoder comes from `pretrained` (a pre-training run directory or checkpoint, an
original MCG-NJU checkpoint, a transformers directory: whatever `videomae.load_weights` reads;
null: from scratch), trained with the paper's recipe, validated every epoch on one centre view per
video. Its checkpoints describe themselves (model, classes, dataset, the whole config), so the
multi-view test (training.evaluate) needs nothing but the checkpoint.
"""

import os

from omegaconf import DictConfig, OmegaConf

from videomae.checkpoints import load_weights
from videomae.checkpoints.hub import pretraining_record
from videomae.checkpoints.run_dir import last_checkpoint, run_checkpoint
from videomae.data.datamodule import VideoDataModule
from videomae.training import run_steps
from videomae.training.callbacks import build_callbacks
from videomae.training.configs import model_kwargs, optim_hparams
from videomae.training.evaluate import evaluate
from videomae.training.finetune_module import FinetuneModule
from videomae.training.summary import RunSummary, model_info
from videomae.utils.errors import ConfigError

NULL = (None, "", "null")


def check_config(cfg: DictConfig) -> None:
    """Start-up checks without building the model or reading data (see pretrain.check_config)."""
    run_steps.check_config(cfg, "finetune")  # the settings, data, logger, ckpt_path
    if cfg.pretrained not in NULL:
        resolve_pretrained(cfg.pretrained)


def run(cfg: DictConfig, run_dir: str) -> str:
    """Fine-tune as `cfg` says (and test when cfg.test); returns the path of the last checkpoint.
    The run directory gets a summary.json (status, overrides, steps, speed, losses, best and final
    accuracy, checkpoint)."""
    run_steps.check_run_dir(cfg, run_dir)  # before summary.json: a user's files are never replaced
    with RunSummary(run_dir, "finetune", model_info(cfg)) as summary:
        run_steps.start(cfg, run_dir, "finetune")
        datamodule = run_steps.labeled_datamodule(cfg)
        module = build_module(cfg, datamodule)
        ckpt_path = run_steps.resume_from(cfg, run_dir, datamodule)
        loaded = load_pretrained(module, cfg.pretrained) if ckpt_path is None else f"resuming {ckpt_path}"
        callbacks = [*build_callbacks(cfg, run_dir), summary.callback]
        trainer = run_steps.build_trainer(cfg, run_dir, callbacks=callbacks, resuming=ckpt_path is not None)
        if trainer.is_global_zero:
            print(f"fine-tuning {cfg.model.name} on {cfg.data.name} ({module.hparams.num_classes} classes)")
            print(loaded)
        run_steps.fit(trainer, module, datamodule, ckpt_path, run_dir)
        last = last_checkpoint(run_dir)
        if trainer.is_global_zero:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/top")}
            shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(metrics.items()))
            print(f"fine-tuning done: {trainer.global_step} steps; {shown}; checkpoint: {last}")
        if cfg.get("test"):
            results = evaluate(last, out_dir=os.path.join(run_dir, "eval"))
            if results is not None:
                summary.update(**{f"test/{k}": results[k] for k in ("top1", "top5", "mean_class")})
        pretrained = cfg.pretrained
        if pretrained not in NULL:
            pretrained = os.path.abspath(os.path.expanduser(str(pretrained)))
        summary.update(checkpoint=last, pretrained=pretrained)
    return last


def build_module(cfg: DictConfig, datamodule: VideoDataModule) -> FinetuneModule:
    """The module, given the settings as its checkpoint records them (plain values)."""
    classes = datamodule.classes
    num_classes = datamodule.num_classes
    assert num_classes is not None, "labeled_datamodule refuses a dataset without classes"
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


def resolve_pretrained(path: str) -> str:
    """A run directory means its checkpoints/last.ckpt; files and transformers directories as they are."""
    path = run_checkpoint(path)
    if not os.path.exists(path):
        raise ConfigError(
            f"pretrained={path} does not exist (give a pre-training run directory, a checkpoint file, "
            "or a transformers model directory; null trains from scratch)"
        )
    return path


def load_pretrained(module: FinetuneModule, pretrained: str | None) -> str:
    """Load the encoder from `pretrained`; returns the load summary (what was loaded, kept, ignored)."""
    if pretrained in NULL:
        return "pretrained=null: training from scratch (every weight at its initial value)"
    report = load_weights(module.model, resolve_pretrained(pretrained))  # mismatches raise, naming keys
    if module.model_ema is not None:
        module.model_ema.module.load_state_dict(module.model.state_dict())
    return report.summary()
