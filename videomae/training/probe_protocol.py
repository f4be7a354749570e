"""The `probe.*` settings of `scripts/probe.py` (configs/probe/*.yaml), checked at start-up: a
wrong value fails with one line naming the key, the value and what is allowed."""

import math

from videomae.training.probe_data import SELECT
from videomae.utils.errors import ConfigError

KINDS = ("attentive", "linear", "knn")
DEFAULTS: dict = {
    "name": None,  # the preset's name (configs/probe/NAME.yaml), reported
    "kind": "attentive",
    "depth": 4,  # attentive: blocks, the last one cross-attention (1: V-JEPA)
    "num_heads": 16,
    "mlp_ratio": 4.0,
    "layer": None,  # encoder block whose tokens are read (1-based; null: the last)
    "clips": 1,  # clips per video whose tokens are concatenated
    "temporal_views": 1,  # evaluation: sets of `clips` clips, x data.test_crops spatial views
    "epochs": 20,
    "lrs": [1e-3],  # the grid: one head per (lr, weight decay)
    "weight_decays": [0.01],
    "betas": [0.9, 0.999],
    "warmup_epochs": 0.0,
    "final_lr": 0.0,
    "select": "auto",
    "holdout": 0.1,
    "knn_k": [20],  # knn: the grid is k x temperature
    "knn_temperature": [0.07],
    "cache": True,  # knn, cached: embedded features kept in RUN/probe/ and reused by a rerun there
    "cached": False,  # linear: fit on embedded features (no augmentation, full batch): a sweep in seconds
    "linear_steps": 300,  # cached linear: full-batch AdamW steps
}


def _number_list(key: str, value, positive: bool = True, integer: bool = False) -> list:
    values = list(value) if isinstance(value, list | tuple) else [value]
    for v in values:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (v > 0 if positive else v >= 0) and (not integer or float(v).is_integer())
        if not ok or not values:
            what = (
                "integers of at least 1"
                if integer
                else ("numbers above 0" if positive else "numbers of at least 0")
            )
            raise ConfigError(f"probe.{key}={value!r}: allowed: {what} (a list for a grid)")
    return [int(v) for v in values] if integer else [float(v) for v in values]


def protocol_settings(cfg: dict | None) -> dict:
    """`probe.*` with defaults, checked."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"probe.{unknown[0]} is not a probe setting; known: {', '.join(DEFAULTS)}")
    s = {**DEFAULTS, **cfg}
    if s["kind"] not in KINDS:
        raise ConfigError(f"probe.kind={s['kind']!r} is not one of {', '.join(KINDS)}")
    if s["select"] not in SELECT:
        raise ConfigError(f"probe.select={s['select']!r} is not one of {', '.join(SELECT)}")
    for key in ("depth", "num_heads", "clips", "temporal_views", "epochs"):
        s[key] = _number_list(key, s[key], integer=True)[0] if not isinstance(s[key], list) else None
        if s[key] is None:
            raise ConfigError(f"probe.{key}={cfg[key]!r}: allowed: one integer of at least 1")
    if s["layer"] is not None and (
        isinstance(s["layer"], bool) or not isinstance(s["layer"], int) or s["layer"] == 0
    ):
        raise ConfigError(
            f"probe.layer={s['layer']!r}: allowed: a block number (1..depth, -1 the last) or null"
        )
    s["lrs"] = _number_list("lrs", s["lrs"])
    s["weight_decays"] = _number_list("weight_decays", s["weight_decays"], positive=False)
    s["knn_k"] = _number_list("knn_k", s["knn_k"], integer=True)
    s["knn_temperature"] = _number_list("knn_temperature", s["knn_temperature"])
    s["mlp_ratio"] = _number_list("mlp_ratio", s["mlp_ratio"])[0]
    s["warmup_epochs"] = _number_list("warmup_epochs", s["warmup_epochs"], positive=False)[0]
    s["final_lr"] = _number_list("final_lr", s["final_lr"], positive=False)[0]
    betas = s["betas"]
    if not (
        isinstance(betas, list | tuple)
        and len(betas) == 2
        and all(isinstance(b, int | float) and 0 <= b < 1 for b in betas)
    ):
        raise ConfigError(f"probe.betas={betas!r}: allowed: two numbers in [0, 1)")
    s["betas"] = [float(b) for b in betas]
    if not isinstance(s["holdout"], int | float) or not 0 < s["holdout"] < 1:
        raise ConfigError(f"probe.holdout={s['holdout']!r}: allowed: a fraction in (0, 1)")
    for key in ("cache", "cached"):
        if not isinstance(s[key], bool):
            raise ConfigError(f"probe.{key}={s[key]!r}: allowed: true, false")
    if s["cached"] and s["kind"] != "linear":
        raise ConfigError(f"probe.cached=true: only with probe.kind=linear (kind={s['kind']})")
    s["linear_steps"] = _number_list("linear_steps", s["linear_steps"], integer=True)[0]
    return s
