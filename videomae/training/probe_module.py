"""`ProbeModule`: a grid of probe heads trained on one frozen encoder, in one pass.

The encoder runs once per batch (eval mode, no gradients, bf16 autocast on a CUDA device that
supports it, fp32 elsewhere); every head of the grid (`probe.lrs` x `probe.weight_decays`, as
V-JEPA 2 trains 20 at once) reads the same tokens. One AdamW holds one pair of parameter groups
per head (biases, norms and the query without weight decay), each with the head's lr and weight
decay, and a per-step cosine to `probe.final_lr` after `probe.warmup_epochs`: AdamW's state and
update are per parameter, so this is the same arithmetic as one optimizer per head, and the
heads share nothing. The loss is the sum of the heads' cross-entropies (each head's gradient is
its own loss's).

Validation and test take every view of a video (`video` (B, V, C, T, H, W) from
MultiViewDataset) and average each head's softmax over the views; the views of a video are
`clips` clips whose tokens are concatenated. Under DDP the predictions of every rank are gathered
and each video counted once (the distributed sampler's padding repeats are dropped by video id).
With no heads (`kind=knn`) the test step collects the mean-pooled features instead.
"""

import itertools

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from videomae.data.batches import ClipBatch, MultiViewBatch
from videomae.eval.features import encoder_tokens
from videomae.models.factory import VideoMAEModel
from videomae.models.probe_heads import build_head
from videomae.training.finetune_module import accuracies, video_predictions
from videomae.training.optim import WarmupCosine, warmup_steps_for
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.utils.pixels import normalize_uint8


def head_name(lr: float, weight_decay: float) -> str:
    return f"lr{lr:g}_wd{weight_decay:g}"


def bf16_autocast(device: torch.device):
    """bf16 autocast where CUDA has bf16; elsewhere a no-op context (fp32)."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled)


class ProbeModule(pl.LightningModule):
    """`probe`: the `probe.*` settings (a ProbeProtocolConfig, or its dict as a checkpoint's
    hyper-parameters hold it), recorded as a plain dict: our checkpoint loader unpickles no class."""

    def __init__(self, num_classes: int, probe: dict | ProbeProtocolConfig, embed_dim: int, seed: int = 0,
                 classes: list[str] | None = None, config: dict | None = None):  # fmt: skip
        super().__init__()
        s = (
            probe
            if isinstance(probe, ProbeProtocolConfig)
            else ProbeProtocolConfig.from_dict(probe, unknown="error")
        )
        self.protocol = s
        self.save_hyperparameters(dict(num_classes=num_classes, probe=s.as_dict(), embed_dim=embed_dim,
                                       seed=seed, classes=classes, config=config))  # fmt: skip
        self.strict_loading = False  # checkpoints hold the heads only: the encoder is the input's
        self.encoder: VideoMAEModel | None = None
        self.selection_step: int | None = None  # the step whose selection-split metrics results holds
        self.layer = s.layer
        self.clips = s.clips
        grid = list(itertools.product(s.lrs, s.weight_decays)) if s.kind != "knn" and not s.cached else []
        self.grid = [(float(lr), float(wd)) for lr, wd in grid]
        self.names = [head_name(lr, wd) for lr, wd in self.grid]
        with torch.random.fork_rng(devices=[]):  # heads drawn from the seed, the run's stream untouched
            torch.manual_seed(seed)
            settings = (
                dict(depth=s.depth, num_heads=s.num_heads, mlp_ratio=s.mlp_ratio)
                if s.kind == "attentive"
                else {}
            )
            self.heads = nn.ModuleList(
                build_head(s.kind, embed_dim, num_classes, **settings) for _ in self.grid
            )
        self._outputs: list[dict] = []
        self.results: dict[str, dict] = {}

    def attach_encoder(self, model: VideoMAEModel) -> None:
        """The frozen model whose encoder gives the tokens (any VideoMAEPretrain/Classifier)."""
        model.requires_grad_(False)
        self.encoder = model.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder is not None:
            self.encoder.eval()  # frozen: no dropout, no drop path, in every phase
        return self

    # --- tokens -------------------------------------------------------------------------------

    def tokens(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 (B, K, C, T, H, W) -> (B, K * N, D) float tokens, K clips concatenated."""
        assert self.encoder is not None, "attach_encoder before running the probe"
        if clips.ndim != 6:
            raise ValueError(f"probe tokens: clips of shape {tuple(clips.shape)}, not (B, K, C, T, H, W)")
        B, K = clips.shape[:2]
        with torch.no_grad(), bf16_autocast(self.device):
            videos = normalize_uint8(clips.flatten(0, 1), self.encoder.pixel_mean, self.encoder.pixel_std)
            tokens = encoder_tokens(self.encoder, videos, self.layer)
        return tokens.float().reshape(B, K * tokens.shape[1], tokens.shape[2])

    # --- training -----------------------------------------------------------------------------

    def training_step(self, batch: ClipBatch, batch_idx: int) -> torch.Tensor:
        # SegmentClipDataset: a video's clip (C, T, H, W) with probe.clips=1, else its (K, C, T, H, W)
        video = batch["video"]
        tokens, labels = self.tokens(video[:, None] if self.clips == 1 else video), batch["label"]
        losses = torch.stack([F.cross_entropy(head(tokens).float(), labels) for head in self.heads])
        self.log("train/loss", losses.mean(), prog_bar=True, batch_size=len(labels))
        return losses.sum()

    def configure_optimizers(self):
        groups = []
        for head, (lr, wd) in zip(self.heads, self.grid, strict=True):
            named = list(head.named_parameters())
            decay = [p for name, p in named if p.ndim > 1 and name != "query"]
            rest = [p for name, p in named if p.ndim <= 1 or name == "query"]
            groups += [
                {"params": decay, "lr": lr, "weight_decay": wd},
                {"params": rest, "lr": lr, "weight_decay": 0.0},
            ]
        s = self.protocol
        optimizer = torch.optim.AdamW(groups, betas=(s.betas[0], s.betas[1]))
        trainer = self.trainer
        total = int(trainer.estimated_stepping_batches)
        per_epoch = max(total // max(int(trainer.max_epochs or 1), 1), 1)
        warmup = warmup_steps_for(s.warmup_epochs, per_epoch, None)
        scheduler = WarmupCosine(optimizer, total, warmup, 0.0, s.final_lr)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lr_scheduler_step(self, scheduler, metric) -> None:
        scheduler.step_update(num_updates=self.global_step)

    # --- every view of every video ------------------------------------------------------------

    def views_step(self, batch: MultiViewBatch) -> None:
        video = batch["video"]  # (B, M x crops, C, T, H, W), clip-major
        B, V = video.shape[:2]
        crops = int(batch["crop_index"][0].max().item()) + 1
        tv = V // crops // self.clips  # temporal views
        # (B, M, crops, ...) with clip m = j * tv + v -> (B, tv, crops, clips, ...)
        grouped = video.unflatten(1, (self.clips, tv, crops)).permute(0, 2, 3, 1, 4, 5, 6, 7)
        tokens = self.tokens(grouped.flatten(0, 2))  # (B * views, clips * N, D)
        views = tv * crops
        out = {"video_id": batch["video_id"].long(), "label": batch["label"].long()}
        if self.heads:
            probs = [head(tokens).float().softmax(-1).unflatten(0, (B, views)).mean(1) for head in self.heads]
            out["probs"] = torch.stack(probs, dim=1)  # (B, heads, classes)
        else:
            out["features"] = tokens.mean(1).unflatten(0, (B, views)).mean(1)
        self._outputs.append(out)

    def gathered(self) -> dict[str, torch.Tensor]:
        """This stage's outputs from every rank, one row per video, sorted by video id."""
        outs, self._outputs = self._outputs, []
        keys = ("video_id", "label", "probs" if self.heads else "features")
        if outs:
            data = {k: torch.cat([o[k] for o in outs]) for k in keys}
        else:
            empty = torch.zeros(0, dtype=torch.long, device=self.device)
            shape = (
                (0, len(self.heads), self.hparams.num_classes) if self.heads else (0, self.hparams.embed_dim)
            )
            data = {
                "video_id": empty,
                "label": empty.clone(),
                keys[2]: torch.zeros(shape, device=self.device),
            }
        if self.trainer.world_size > 1:  # equal lengths per rank: the sampler pads with repeats
            data = {k: self.all_gather(v).flatten(0, 1) for k, v in data.items()}
        ids, values, labels = video_predictions(
            data["video_id"].cpu(), data[keys[2]].cpu(), data["label"].cpu()
        )
        return {"video_id": ids, "label": labels, keys[2]: values}

    def head_metrics(self, data: dict) -> dict[str, dict]:
        n = self.hparams.num_classes
        return {name: {**accuracies(data["probs"][:, h], data["label"], n), "videos": len(data["label"])}
                for h, name in enumerate(self.names)}  # fmt: skip

    def on_validation_epoch_start(self) -> None:
        self._outputs = []

    def validation_step(self, batch: MultiViewBatch, batch_idx: int) -> None:
        self.views_step(batch)

    def on_validation_epoch_end(self) -> None:
        data = self.gathered()
        if self.trainer.sanity_checking or not len(data["label"]):
            return
        metrics = self.head_metrics(data)
        self.results["selection"] = metrics
        self.selection_step = self.global_step
        best = max(m["top1"] for m in metrics.values())
        self.log("val/top1", best, rank_zero_only=True)  # the best head's, on the selection split

    def on_test_epoch_start(self) -> None:
        self._outputs = []

    def test_step(self, batch: MultiViewBatch, batch_idx: int) -> None:
        self.views_step(batch)

    def on_test_epoch_end(self) -> None:
        data = self.gathered()
        self.results["test"] = self.head_metrics(data) if self.heads else {}
        self.results["test_data"] = data

    # --- checkpoints: the heads only ------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("encoder.")]:
            del state[key]
