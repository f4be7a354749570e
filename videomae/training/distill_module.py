"""LightningModule for distilling a student VideoMAE from a frozen teacher (videomae.models.distill).

The student is a `VideoMAEPretrain` (`self.model`), so its checkpoints are pre-training checkpoints
that load wherever one does (`pretrained=`, `init=`, convert, HF export). Its pixel decoder is not
trained here (frozen at init). The distillation heads (`self.heads`: predictor or projectors) are
saved beside the state dict, under `distill_heads`, so a resume continues them exactly while the
student's state dict holds only the student. The teacher is not a submodule and is never saved.
"""

import torch
from torch import nn

from videomae.checkpoints.run_dir import run_checkpoint
from videomae.data.batches import ClipBatch
from videomae.models import create_pretrain_model
from videomae.models.distill import (
    FeatureProjectors,
    LatentPredictor,
    LogitHead,
    encode_blocks,
    kd_loss,
    nested_masks,
    pool_to_student,
    regression_loss,
    to_teacher_grid,
)
from videomae.models.factory import VideoMAEModel
from videomae.models.masking import MaskConfig, MaskGenerator
from videomae.training.distill_config import DistillConfig
from videomae.training.optim import (
    OptimConfig,
    build_adamw,
    param_group_names,
    param_groups,
    per_step_schedule,
    scaled_lr,
)
from videomae.training.pretrain_module import PretrainModule
from videomae.training.teacher import check_grids, load_teacher, teacher_classes, teacher_dtype
from videomae.training.teacher_cache import TeacherCache, clip_key, teacher_fingerprint
from videomae.utils.errors import ConfigError

HEADS_KEY = "distill_heads"  # the checkpoint's entry for the heads' weights, beside state_dict


def block_numbers(key: str, values, depth: int) -> list[int]:
    """1-based block numbers from a config list; -1 is the last block. One-line error otherwise."""
    numbers = [int(v) + depth + 1 if int(v) < 0 else int(v) for v in values]
    if not numbers or any(not 1 <= n <= depth for n in numbers):
        raise ConfigError(f"{key}={list(values)}: block numbers must be in 1..{depth} (or -1 for the last)")
    return numbers


class DistillModule(PretrainModule):
    """`model`: the student (name and overrides); `mask`: the student's mask; `distill`: target,
    loss and heads (configs/distill/default.yaml); `teacher`: the teacher checkpoint's path."""

    def __init__(
        self,
        model: dict,
        mask: dict,
        optim: dict,
        distill: dict,
        teacher: str,
        seed: int = 0,
        max_nonfinite_steps: int = 20,
        compile: bool = False,
    ):
        super(PretrainModule, self).__init__()  # VideoModule: the student and heads are built here
        self.save_hyperparameters()
        self.settings = settings = DistillConfig.from_dict(distill)  # recorded as given: a dict
        self.nonfinite_in_a_row = 0
        self.nonfinite_total = 0
        student = create_pretrain_model(**model)
        for part in (student.decoder, student.encoder_to_decoder):
            part.requires_grad_(False)
        student.mask_token.requires_grad_(False)
        target = settings.target
        grid = student.grid
        frames, size = grid[0] * student.tubelet_size, grid[1] * student.patch_size
        teacher_model, self.teacher_report = load_teacher(teacher, frames, size, target)
        # Logits need no common grid: a teacher of any patch size classifies the same clip.
        self.factors = (1, 1, 1) if target == "logits" else check_grids(teacher, teacher_model, grid)
        self.frozen = [
            teacher_model
        ]  # a list: not a submodule, so never in state_dict nor moved by Lightning
        student_mask = MaskConfig.from_dict(mask)  # the tokens the student sees; no decoder masking
        self.mask_generator = MaskGenerator(student_mask.type, float(student_mask.ratio), grid)
        t_dim, s_dim = teacher_model.encoder.embed_dim, student.encoder.embed_dim
        if target == "latent":
            p = settings.predictor
            self.heads: nn.Module = LatentPredictor(
                s_dim, t_dim, student.encoder.num_tokens, p["width"], p["depth"], p["num_heads"]
            )
        elif target == "features":
            self.student_blocks = block_numbers(
                "distill.student_blocks", settings.student_blocks, len(student.encoder.blocks)
            )
            self.teacher_blocks = block_numbers(
                "distill.teacher_blocks", settings.teacher_blocks, len(teacher_model.encoder.blocks)
            )
            if len(self.student_blocks) != len(self.teacher_blocks):
                raise ConfigError(
                    f"distill.student_blocks={list(settings.student_blocks)} and distill.teacher_blocks="
                    f"{list(settings.teacher_blocks)} must pair up (as many of each)"
                )
            self.heads = FeatureProjectors(s_dim, t_dim, len(self.student_blocks))
            # Blocks past the last aligned one (and the final norm) get no gradient: frozen, so
            # that DDP finds no unused trainable parameter.
            for block in student.encoder.blocks[max(self.student_blocks) :]:
                block.requires_grad_(False)
            student.encoder.norm.requires_grad_(False)
        else:
            self.heads = LogitHead(s_dim, teacher_classes(teacher_model))
        self.cache = self.open_cache(settings, teacher, grid)
        self.rows: ClipBatch | None = None  # the step's uint8 clips and their records, for the cache
        self.attach_model(student)
        self.head_names = param_group_names(self.heads, optim["weight_decay"])
        self.compile_model(compile)

    @property
    def teacher(self) -> VideoMAEModel:
        return self.frozen[0]

    def open_cache(self, distill: DistillConfig, teacher: str, grid) -> TeacherCache | None:
        """The teacher cache of `distill.cache.dir` (training.teacher_cache), or None."""
        directory = distill.cache_dir
        if not directory:
            return None
        if distill.target == "features" and float(distill.teacher_mask_ratio) > 0:
            raise ConfigError(
                f"distill.cache.dir={directory}: the features target's teacher sees a mask drawn at "
                "every step, which no cache can hold; set distill.teacher_mask_ratio=0 to cache it"
            )
        settings = {
            "teacher": teacher_fingerprint(run_checkpoint(teacher)),
            "target": distill.target,
            "teacher_blocks": getattr(self, "teacher_blocks", None),
            "teacher_precision": distill.teacher_precision,
            "student_grid": list(grid),
            "input": [
                grid[0] * self.hparams.model.get("tubelet_size", 2),
                self.hparams.model.get("img_size"),
            ],
        }
        return TeacherCache(directory, settings)

    def setup(self, stage: str) -> None:
        cycle = self.settings.clip_cycle
        train_set = getattr(getattr(self.trainer, "datamodule", None), "train_set", None)
        if cycle and train_set is not None:
            train_set.clip_cycle = cycle  # the same clips every `cycle` epochs: cache hits

    def on_fit_start(self) -> None:
        super().on_fit_start()
        dtype = teacher_dtype(self.settings.teacher_precision, self.device)
        self.teacher.to(device=self.device, dtype=dtype)

    # --- the losses ---------------------------------------------------------------------------

    def training_step(self, batch: ClipBatch, batch_idx: int) -> torch.Tensor | None:
        self.rows = batch if self.cache is not None else None
        loss = self.distill_loss(self.pixels(batch["video"]))
        if not self.all_ranks_finite(loss):
            self.skip_nonfinite_step()
            return None
        self.nonfinite_in_a_row = 0
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], prog_bar=True)
        return loss

    @torch.no_grad()
    def teacher_tokens(self, videos: torch.Tensor, mask: torch.Tensor | None, after: list[int] | None):
        """The teacher's tokens on the student's grid: its output tokens (after=None), or those
        after each block in `after`; `mask`: on the student's grid, the teacher's own."""
        teacher = self.teacher
        dtype = next(teacher.parameters()).dtype
        videos = videos.to(dtype)
        t_mask = None if mask is None else to_teacher_grid(mask, self.model.grid, self.factors)
        if after is None:
            outputs = [teacher.encoder(videos)]
        else:
            outputs = encode_blocks(teacher.encoder, videos, t_mask, after)
        grids = (teacher.encoder.grid, self.model.grid)
        return [pool_to_student(x.float(), t_mask, *grids) for x in outputs]

    def distill_loss(self, videos: torch.Tensor) -> torch.Tensor:
        d = self.settings
        target, B = d.target, videos.shape[0]
        if target == "logits":
            teacher_logits = self.full_view(videos)[0]
            return kd_loss(self.heads(self.model.encoder(videos)), teacher_logits, d.temperature)
        if target == "latent":
            mask = self.mask_generator(B, videos.device)
            pred = self.heads(self.model.encoder(videos, mask), mask)
            tokens = self.full_view(videos)[0]
            goal = tokens[mask].reshape(B, -1, tokens.shape[-1])
            return regression_loss(pred, goal, d.loss, d.norm_targets)
        ratio = float(d.teacher_mask_ratio)
        mask, t_mask = nested_masks(
            B, self.model.grid, self.mask_generator.type, self.mask_generator.ratio, ratio, videos.device
        )
        student = self.heads(encode_blocks(self.model.encoder, videos, mask, self.student_blocks))
        goals = (
            self.teacher_tokens(videos, t_mask, self.teacher_blocks) if ratio > 0 else self.full_view(videos)
        )
        losses = [
            regression_loss(s, g[~mask].reshape(B, -1, g.shape[-1]), d.loss, d.norm_targets)
            for s, g in zip(student, goals, strict=True)
        ]
        return torch.stack(losses).mean()

    @torch.no_grad()
    def compute_full_view(self, videos: torch.Tensor) -> list[torch.Tensor]:
        """The teacher on whole clips: its logits (logits), output tokens (latent) or the tokens
        after `distill.teacher_blocks` (features), on the student's grid, fp32."""
        target = self.settings.target
        if target == "logits":
            return [self.teacher(videos.to(next(self.teacher.parameters()).dtype)).float()]
        return self.teacher_tokens(videos, None, None if target == "latent" else self.teacher_blocks)

    def full_view(self, videos: torch.Tensor) -> list[torch.Tensor]:
        """`compute_full_view`, through the cache when there is one. Cached outputs are fp16, and
        so are fresh ones then: a step's targets do not depend on whether it hit."""
        if self.cache is None or self.rows is None:
            return self.compute_full_view(videos)
        clips = self.rows["video"]
        keys = [clip_key(clip) for clip in clips]
        found = self.cache.lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            computed = self.compute_full_view(videos[missing])
            for j, i in enumerate(missing):
                outputs = [o[j] for o in computed]
                self.cache.store(keys[i], outputs, self.clip_record(i, len(clips)))
                found[keys[i]] = [o.to("cpu", torch.float16) for o in outputs]
        self.log("cache/hit_rate", 1.0 - len(missing) / len(keys))
        count = len(found[keys[0]])
        return [torch.stack([found[k][n] for k in keys]).to(videos.device).float() for n in range(count)]

    def clip_record(self, row: int, rows: int) -> dict:
        """What the student saw at `row`: the video, its frame indices and the crop and flip."""
        batch, train_set = self.rows, self.trainer.datamodule.train_set
        assert batch is not None, "set in training_step when there is a cache"
        video = row // (rows // len(batch["index"]))  # repeated clips (num_sample) share a video
        crops = batch.get("crop_params")
        return {
            "video": train_set.samples[int(batch["index"][video])][0],
            "frame_indices": batch["frame_indices"][video].tolist(),
            "crop": crops[row].tolist() if crops is not None else None,
        }

    # --- optimizer and checkpoints ------------------------------------------------------------

    def configure_optimizers(self):
        """AdamW over the student's groups and the heads' (training.optim), one schedule."""
        cfg = OptimConfig.of(self.hparams.optim)
        batch = self.effective_batch()
        groups = param_groups(self.model, self.param_names) + param_groups(self.heads, self.head_names)
        optimizer = build_adamw(
            groups, scaled_lr(cfg.base_lr, batch), cfg.betas, fused=self.device.type == "cuda"
        )
        return per_step_schedule(self.trainer, optimizer, cfg, batch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        checkpoint[HEADS_KEY] = {k: state.pop(k) for k in [k for k in state if k.startswith("heads.")]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"].update(checkpoint.get(HEADS_KEY, {}))
