"""The frozen teacher of a distillation run: any checkpoint `videomae.load_weights` reads, rebuilt
for the student's input (frames and resolution: its position tables are functions), checked against
the student's token grid and the target, in eval mode with no gradients, in bf16 where the device
has it. It is never a submodule of the training module, so it is never in a student checkpoint."""

import os

import torch
from torch import nn

from videomae.checkpoints.formats import checkpoint_spec, read_checkpoint
from videomae.checkpoints.load import apply_checkpoint
from videomae.checkpoints.run_dir import run_checkpoint
from videomae.checkpoints.spec import build_model
from videomae.models.classifier import VideoMAEClassifier
from videomae.models.distill import cell_factors
from videomae.models.factory import VideoMAEModel
from videomae.utils.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp32")


def load_teacher(path: str, num_frames: int, img_size: int, target: str) -> tuple[VideoMAEModel, str]:
    """(frozen teacher in eval mode, the load report's text). One-line ConfigErrors for a teacher
    that does not fit the student's input or the target."""
    if not path or str(path) in ("None", "null", "???"):
        raise ConfigError("teacher is not set: teacher=PATH (a run directory's checkpoint, .pth or HF dir)")
    path = run_checkpoint(str(path))  # a run directory: its checkpoints/last.ckpt
    if not os.path.exists(path):
        raise ConfigError(
            f"teacher={path} does not exist (give a run directory, a checkpoint file or a "
            "transformers directory)"
        )
    ckpt = read_checkpoint(path)
    spec, notes = checkpoint_spec(ckpt)
    kwargs = spec["kwargs"]
    tubelet, patch = int(kwargs.get("tubelet_size", 2)), int(kwargs.get("patch_size", 16))
    if num_frames % tubelet or img_size % patch:
        raise ConfigError(
            f"teacher={path}: its tubes ({tubelet} frames x {patch} x {patch} px) do not tile the "
            f"student's clips ({num_frames} frames x {img_size} x {img_size} px)"
        )
    if target == "logits" and spec["task"] != "classification":
        raise ConfigError(
            f"distill.target=logits needs a teacher with a classifier head; teacher={path} "
            f"({ckpt.description}) has none: fine-tune it first, or use distill.target=latent|features"
        )
    overrides = {"num_frames": num_frames, "img_size": img_size, "drop_path_rate": 0.0}
    model = build_model(spec, **overrides)
    report = apply_checkpoint(model, ckpt)
    report.notes = [note for key, note in notes.items() if key not in overrides] + report.notes
    model.eval().requires_grad_(False)
    return model, report.summary()


def check_grids(
    path: str, teacher: VideoMAEModel, student_grid: tuple[int, int, int]
) -> tuple[int, int, int]:
    """Teacher tokens per student token along (t, h, w); a one-line ConfigError naming both grids
    when the teacher's tokens cannot be pooled to the student's (its tubes must tile the student's)."""
    teacher_grid = tuple(teacher.encoder.grid)
    factors = cell_factors(teacher_grid, student_grid)
    if factors is None:
        raise ConfigError(
            f"teacher={path}: its token grid {teacher_grid} (t, h, w) cannot be pooled to the "
            f"student's {tuple(student_grid)}: each student tube must hold whole teacher tubes "
            "(teacher patch and tubelet sizes dividing the student's)"
        )
    return factors  # type: ignore[return-value]


def teacher_dtype(precision: str, device: torch.device) -> torch.dtype:
    """bf16 on a CUDA device that has it (auto), else fp32; `bf16`/`fp32` as asked."""
    if precision not in PRECISIONS:
        raise ConfigError(f"distill.teacher_precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    ):
        return torch.bfloat16
    return torch.float32


def teacher_classes(teacher: nn.Module) -> int:
    return teacher.num_classes if isinstance(teacher, VideoMAEClassifier) else 0
