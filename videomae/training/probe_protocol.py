"""The `probe.*` settings of `scripts/probe.py` (configs/probe/*.yaml): `ProbeProtocolConfig`,
built at start-up by `build_configs(cfg, "probe")`; a wrong value fails with one line naming the
key, the value and what is allowed."""

import typing
from collections.abc import Sequence
from dataclasses import dataclass, fields

from videomae.utils.config_fields import Settings, rule, setting
from videomae.utils.errors import ConfigError

KINDS = ("attentive", "linear", "knn")
SELECT = ("auto", "val", "holdout", "eval")  # how the head is chosen (training.probe_data)
GRIDS = ("lrs", "weight_decays", "knn_k", "knn_temperature")  # one head (or kNN) per combination


@dataclass(frozen=True, kw_only=True)
class ProbeProtocolConfig(Settings):
    """`probe.*` of a frozen-encoder probe (docs/evaluation.md). The grids (`lrs`, `weight_decays`,
    `knn_k`, `knn_temperature`) may be given as one number (`probe.lrs=1e-3`): a one-point grid."""

    GROUP = "probe"
    name: str | None = rule()  # the preset's name (configs/probe/NAME.yaml), reported
    kind: str = setting("attentive", choices=KINDS)
    depth: int = setting(4, low=1)  # attentive: blocks, the last one cross-attention (1: V-JEPA)
    num_heads: int = setting(16, low=1)
    mlp_ratio: float = setting(4.0, low=0, low_open=True)
    # encoder block read (1-based, -1 the last; null: the last, after the final norm)
    layer: int | None = setting(None, checked=False)
    clips: int = setting(1, low=1)  # clips per video whose tokens are concatenated
    # evaluation: sets of `clips` clips, x data.test_crops spatial views
    temporal_views: int = setting(1, low=1)
    epochs: int = setting(20, low=1)
    lrs: list[float] = setting([1e-3], low=0, low_open=True)  # the grid: one head per (lr, weight decay)
    weight_decays: list[float] = setting([0.01], low=0)
    betas: list[float] = setting([0.9, 0.999], low=0, high=1, high_open=True, length=2)
    warmup_epochs: float = setting(0.0, low=0)
    final_lr: float = setting(0.0, low=0)  # per-step cosine from each head's lr to this
    select: str = setting("auto", choices=SELECT)  # the selection rule (training.probe_data)
    # select=holdout: this share of each class's training videos chooses the head
    holdout: float = setting(0.1, low=0, high=1, low_open=True, high_open=True)
    knn_k: list[int] = setting([20], low=1)  # knn: the grid is k x temperature
    knn_temperature: list[float] = setting([0.07], low=0, low_open=True)
    # knn, cached: the embedded features kept in RUN/probe/features.pt and reused by a rerun there
    cache: bool = setting(True)
    # linear: fit on embedded features (centre views, no augmentation, full batch): seconds
    cached: bool = setting(False)
    linear_steps: int = setting(300, low=1)  # cached linear: full-batch AdamW steps

    def __post_init__(self) -> None:
        for name in GRIDS:  # a number is a one-point grid; omegaconf's ListConfig a list
            value = getattr(self, name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                object.__setattr__(self, name, [value])
            elif isinstance(value, Sequence) and not isinstance(value, str):
                object.__setattr__(self, name, list(value))
        if isinstance(self.betas, Sequence) and not isinstance(self.betas, str):
            object.__setattr__(self, "betas", list(self.betas))
        super().__post_init__()
        # numbers as metrics.json has always recorded them: `warmup_epochs: 0` reads 0.0
        hints = typing.get_type_hints(type(self))
        for spec in fields(self):
            value = getattr(self, spec.name)
            if hints[spec.name] is float:
                object.__setattr__(self, spec.name, float(value))
            elif hints[spec.name] == list[float]:
                object.__setattr__(self, spec.name, [float(v) for v in value])

    def check(self) -> None:
        layer = self.layer
        if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int) or layer == 0):
            raise ConfigError(
                f"probe.layer={layer!r}: allowed: a block number (1..depth, -1 the last) or null"
            )
        for name in GRIDS:
            if not getattr(self, name):
                raise ConfigError(f"probe.{name}=[] is empty; allowed: one value or a list of them (a grid)")
        if self.cached and self.kind != "linear":
            raise ConfigError(f"probe.cached=true: only with probe.kind=linear (kind={self.kind})")
