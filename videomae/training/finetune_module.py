"""LightningModule for fine-tuning (and multi-view testing) a VideoMAEClassifier.

The recipe of the paper, from timm where it has it: mixup/cutmix with label smoothing (Mixup,
SoftTargetCrossEntropy), layer-wise lr decay (param_groups_layer_decay), an optional EMA of the
weights (ModelEmaV3, validated alongside the model), linear warm-up then per-step cosine.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.utils import ModelEmaV3

from videomae.data.batches import ClipBatch, MultiViewBatch
from videomae.models import create_classifier
from videomae.training.module import VideoModule
from videomae.utils.config_fields import Settings, setting

EMA_PREFIX = "model_ema."


@dataclass(frozen=True, kw_only=True)
class MixupConfig(Settings):
    """`mixup.*`: timm's Mixup of the fine-tuning batches (mixup_alpha=0 cutmix_alpha=0: off),
    with label smoothing (which applies also when mixup is off)."""

    GROUP = "mixup"
    mixup_alpha: float = setting(0.8, low=0)
    cutmix_alpha: float = setting(1.0, low=0)
    prob: float = setting(1.0, low=0, high=1)  # of mixing a batch at all
    switch_prob: float = setting(0.5, low=0, high=1)  # of cutmix instead of mixup, with both on
    # configs/mixup/default.yaml's; every finetune.py run has recorded it, so no checkpoint lacks it
    label_smoothing: float = setting(0.1, low=0, high=1, high_open=True)

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


# No mixing: what a module given no alphas trains with (label smoothing still applies).
NO_MIXUP = {"mixup_alpha": 0.0, "cutmix_alpha": 0.0}


@dataclass(frozen=True, kw_only=True)
class EmaConfig(Settings):
    """`ema.*`: timm's ModelEmaV3 of the weights, validated alongside (val/top1_ema)."""

    GROUP = "ema"
    enabled: bool = setting(False)
    decay: float = setting(0.9999, low=0, high=1)


def _alphas(mixup: dict) -> bool:
    """Whether `mixup` turns mixing on as the module always read it: an alpha given and above 0."""
    return mixup.get("mixup_alpha", 0) > 0 or mixup.get("cutmix_alpha", 0) > 0


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """For each k, a (B,) bool: whether the label is among the k highest scores."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return [hits[:, :k].any(dim=1) for k in ks]


def video_predictions(video_ids: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor):
    """One row per distinct video id (the first seen): drops the repeats that a distributed
    sampler's padding (or a broken video replaced by another) produces. Sorted by video id."""
    order = torch.argsort(video_ids, stable=True)
    video_ids, probs, labels = video_ids[order], probs[order], labels[order]
    keep = torch.ones_like(video_ids, dtype=torch.bool)
    keep[1:] = video_ids[1:] != video_ids[:-1]
    return video_ids[keep], probs[keep], labels[keep]


def accuracies(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """top-1, top-5 and mean per-class accuracy (over the classes that have test videos), in %."""
    top1, top5 = topk_correct(probs, labels)
    per_class = [top1[labels == c].float().mean() for c in range(num_classes) if (labels == c).any()]
    return {
        "top1": 100.0 * top1.float().mean().item(),
        "top5": 100.0 * top5.float().mean().item(),
        "mean_class": 100.0 * torch.stack(per_class).mean().item() if per_class else float("nan"),
    }


class FinetuneModule(VideoModule):
    """`model`: name and constructor overrides; `optim`, `mixup`, `ema`: the recipe.

    Plain dicts stored in the checkpoint with `num_classes`, `classes` (the dataset's names, in
    label order) and `dataset`, so that a fine-tuned checkpoint rebuilds its own model and finds its
    dataset (scripts/evaluate.py); `pretrained_record` says where the encoder came from (for the
    model card of an export).
    """

    def __init__(
        self,
        model: dict,
        num_classes: int,
        optim: dict,
        mixup: dict | None = None,
        ema: dict | None = None,
        seed: int = 0,
        classes: list[str] | None = None,
        dataset: str | None = None,
        config: dict | None = None,
        compile: bool = False,
        pretrained_record: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.attach_model(
            create_classifier(num_classes=num_classes, **model), float(optim.get("layer_decay", 1.0))
        )
        # Recorded as given (a dict; an old checkpoint's too) and read through the settings.
        given = mixup or {}
        mix = MixupConfig.from_dict(given if _alphas(given) else {**given, **NO_MIXUP})
        self.mixup = None
        smoothing = float(mix.label_smoothing)
        if mix.enabled:
            self.mixup = Mixup(
                mixup_alpha=float(mix.mixup_alpha),
                cutmix_alpha=float(mix.cutmix_alpha),
                prob=float(mix.prob),
                switch_prob=float(mix.switch_prob),
                mode="batch",
                label_smoothing=smoothing,
                num_classes=num_classes,
            )
        self.smoothing = smoothing
        self.soft_loss = SoftTargetCrossEntropy()
        self.model_ema = None
        average = EmaConfig.from_dict(ema)
        if average.enabled:
            self.model_ema = ModelEmaV3(self.model, decay=float(average.decay))
            self.model_ema.requires_grad_(False)  # not trained: DDP must not wait for its gradients
        self.compile_model(compile)
        self._test_outputs: list[dict] = []
        self.test_results: dict | None = None

    # --- training -----------------------------------------------------------------------------

    def soft_targets(self, videos: torch.Tensor, labels: torch.Tensor):
        """Mixup/cutmix (on a (B, C*T, H, W) view, so cutmix cuts the same box from every frame)
        with smoothed labels; plain smoothed labels when the batch is odd or mixup is off."""
        if self.mixup is not None and videos.shape[0] % 2 == 0:
            flat = videos.flatten(1, 2)  # a view: mixup works in place
            flat, targets = self.mixup(flat, labels)
            return flat.view_as(videos), targets
        n = self.hparams.num_classes
        off = self.smoothing / n
        targets = torch.full((labels.shape[0], n), off, device=labels.device)
        targets.scatter_(1, labels[:, None], 1.0 - self.smoothing + off)
        return videos, targets

    def training_step(self, batch: ClipBatch, batch_idx: int) -> torch.Tensor:
        videos, targets = self.soft_targets(self.pixels(batch["video"]), batch["label"])
        logits = self.model(videos)
        loss = self.soft_loss(logits.float(), targets)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[-1]["lr"], prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.model_ema is not None:
            self.model_ema.update(self.model, step=self.global_step)

    # --- validation: one centre view per video ------------------------------------------------

    def _eval_models(self):
        yield "", self.model
        if self.model_ema is not None:
            yield "_ema", self.model_ema.module

    def validation_step(self, batch: ClipBatch, batch_idx: int) -> None:
        videos, labels = self.pixels(batch["video"]), batch["label"]
        for suffix, model in self._eval_models():
            logits = model(videos).float()
            top1, top5 = topk_correct(logits, labels)
            opts = dict(on_epoch=True, sync_dist=True, batch_size=labels.shape[0])
            self.log(f"val/loss{suffix}", F.cross_entropy(logits, labels), **opts)
            self.log(f"val/top1{suffix}", 100.0 * top1.float().mean(), prog_bar=True, **opts)
            self.log(f"val/top5{suffix}", 100.0 * top5.float().mean(), **opts)

    # --- test: every view of every video, softmax averaged per video --------------------------

    def test_model(self):
        return self.model_ema.module if self.model_ema is not None and self.use_ema else self.model

    use_ema = False  # scripts/evaluate.py ema=true tests the EMA weights

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: MultiViewBatch, batch_idx: int) -> None:
        videos = batch["video"]  # (B, V, C, T, H, W)
        B, V = videos.shape[:2]
        logits = self.test_model()(self.pixels(videos.flatten(0, 1))).float()
        probs = logits.softmax(dim=-1).view(B, V, -1).mean(dim=1)
        self._test_outputs.append(
            {"video_id": batch["video_id"].long(), "label": batch["label"].long(), "probs": probs}
        )

    def on_test_epoch_end(self) -> None:
        n = self.hparams.num_classes
        if self._test_outputs:
            ids = torch.cat([o["video_id"] for o in self._test_outputs])
            labels = torch.cat([o["label"] for o in self._test_outputs])
            probs = torch.cat([o["probs"] for o in self._test_outputs])
        else:
            ids = torch.zeros(0, dtype=torch.long, device=self.device)
            labels, probs = ids.clone(), torch.zeros(0, n, device=self.device)
        if self.trainer.world_size > 1:
            # The distributed sampler gives every rank the same number of items (padding with
            # repeats), so the gather needs no ragged handling; the repeats are dropped below.
            ids, labels, probs = (self.all_gather(t).flatten(0, 1) for t in (ids, labels, probs))
        ids, probs, labels = video_predictions(ids.cpu(), probs.cpu(), labels.cpu())
        metrics = accuracies(probs, labels, n) if len(ids) else {}
        self.test_results = {"video_id": ids, "label": labels, "probs": probs, "metrics": metrics}
        self._test_outputs = []

    # --- checkpoints: EMA weights beside the model's, so that the state dict is the classifier's ---

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        ema = {
            k.removeprefix(EMA_PREFIX + "module."): state.pop(k)
            for k in list(state)
            if k.startswith(EMA_PREFIX)
        }
        if ema:
            checkpoint["ema_state_dict"] = ema

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        ema = checkpoint.pop("ema_state_dict", None)
        if ema and self.model_ema is not None:
            checkpoint["state_dict"].update({f"{EMA_PREFIX}module.{k}": v for k, v in ema.items()})
        elif self.model_ema is not None:  # no EMA saved: start it from the model
            checkpoint["state_dict"].update(
                {
                    f"{EMA_PREFIX}module.{k.removeprefix('model.')}": v
                    for k, v in checkpoint["state_dict"].items()
                }
            )
