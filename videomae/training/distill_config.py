"""The `distill.*` settings of a distillation run (configs/distill/default.yaml; docs/distillation.md)."""

from dataclasses import dataclass

from videomae.models.distill import LOSSES, TARGETS
from videomae.training.teacher import PRECISIONS
from videomae.utils.config_fields import Settings, setting
from videomae.utils.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class TeacherCacheConfig(Settings):
    """The teacher's outputs on whole clips kept on disk (training.teacher_cache)."""

    GROUP = "distill.cache"
    dir: str | None = setting(None)  # null: off
    clip_cycle: int = setting(0, low=0)  # K > 0: each video's clips and augmentations repeat every K epochs


@dataclass(frozen=True, kw_only=True)
class DistillConfig(Settings):
    """What the student learns from the frozen teacher, and how."""

    GROUP = "distill"
    # latent (SALT) | features (AMD) | logits (a classifier teacher, KL on identical views)
    target: str = setting(checked=False)
    loss: str = setting(checked=False)  # latent, features: l1 | l2 | smooth_l1
    norm_targets: bool = setting()  # latent, features: teacher tokens layer-normalised per token first
    # latent: the light decoder from the student's visible tokens to the teacher's masked ones
    predictor: dict = setting()  # width, depth, num_heads
    student_blocks: list[int] = setting()  # features: student blocks (1-based; -1 the last) aligned,
    teacher_blocks: list[int] = setting()  # in pairs, to these teacher blocks
    teacher_mask_ratio: float = setting(checked=False)  # features: the teacher's tube mask, in [0, 1)
    temperature: float = setting(checked=False)  # logits: softmax temperature of the KL divergence
    teacher_precision: str = setting(checked=False)  # auto: bf16 on a GPU that has it | bf16 | fp32
    cache: dict | None = setting(None)  # TeacherCacheConfig's keys (null: the cache off)

    def check(self) -> None:
        self.cache_settings  # noqa: B018  # its keys and values checked with the rest
        if self.target not in TARGETS:
            raise ConfigError(f"distill.target={self.target!r} is not one of {', '.join(TARGETS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"distill.loss={self.loss!r} is not one of {', '.join(LOSSES)}")
        if not 0.0 <= float(self.teacher_mask_ratio) < 1.0:
            raise ConfigError(f"distill.teacher_mask_ratio={self.teacher_mask_ratio} must be in [0, 1)")
        if float(self.temperature) <= 0:
            raise ConfigError(f"distill.temperature={self.temperature} must be > 0")
        if self.teacher_precision not in PRECISIONS:
            raise ConfigError(
                f"distill.teacher_precision={self.teacher_precision!r} is not one of " + ", ".join(PRECISIONS)
            )

    @property
    def cache_settings(self) -> TeacherCacheConfig:
        return TeacherCacheConfig.from_dict(self.cache, unknown="error")

    @property
    def cache_dir(self) -> str | None:
        return self.cache_settings.dir or None

    @property
    def clip_cycle(self) -> int:
        return self.cache_settings.clip_cycle
