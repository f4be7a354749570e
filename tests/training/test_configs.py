"""The typed settings: built once from the composed config by `build_configs` for every run kind,
frozen, with the shipped YAML's values as the defaults of the settings a module reads without them."""

import dataclasses
import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from videomae.models import ModelConfig, VideoMAEClassifier, VideoMAEPretrain
from videomae.models.masking import MaskConfig
from videomae.training.callbacks import CheckpointConfig
from videomae.training.configs import build_configs
from videomae.training.distill_config import DistillConfig, TeacherCacheConfig
from videomae.training.finetune_module import EmaConfig, MixupConfig
from videomae.training.online_probe_subsets import ProbeConfig, probe_settings
from videomae.training.optim import OptimConfig
from videomae.training.pictures import VizConfig
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.training.progress import ProgressConfig
from videomae.training.timing import PerfConfig
from videomae.utils.errors import ConfigError

CONFIGS = str(Path(__file__).resolve().parents[2] / "configs")


def composed(name: str, *overrides: str):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_every_run_kind_builds_its_typed_settings():
    pretrain = build_configs(composed("pretrain"), "pretrain")
    assert isinstance(pretrain.model, ModelConfig) and isinstance(pretrain.mask, MaskConfig)
    assert isinstance(pretrain.optim, OptimConfig) and isinstance(pretrain.probe, ProbeConfig)
    assert isinstance(pretrain.checkpoint, CheckpointConfig) and isinstance(pretrain.progress, ProgressConfig)
    assert pretrain.mask.ratio == composed("pretrain").mask.ratio
    finetune = build_configs(composed("finetune"), "finetune")
    assert isinstance(finetune.mixup, MixupConfig) and isinstance(finetune.ema, EmaConfig)
    assert finetune.mask is None and finetune.optim is not None and finetune.optim.layer_decay == 0.75
    distill = build_configs(composed("distill", "teacher=unused"), "distill")
    assert isinstance(distill.distill, DistillConfig) and distill.distill.target == "latent"
    probe = build_configs(composed("probe", "checkpoint=unused"), "probe")
    assert probe.protocol().kind == "attentive" and probe.checkpoint is None
    assert isinstance(pretrain.perf, PerfConfig) and isinstance(pretrain.viz, VizConfig)
    assert isinstance(probe.perf, PerfConfig) and probe.viz is None


def test_settings_are_frozen_and_checked_however_they_are_made():
    mask = MaskConfig(type="tube", ratio=0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mask.ratio = 0.5  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"^optim.base_lr=-1 is out of range; allowed: a number > 0$"):
        OptimConfig(base_lr=-1, min_lr=0, warmup_lr=0, warmup_epochs=1, weight_decay=0, betas=[0.9, 0.95])
    with pytest.raises(ConfigError, match=r"^checkpoint.every_n_epochs is missing; it has no default$"):
        CheckpointConfig.from_dict({})
    with pytest.raises(ConfigError, match=r"^progress.style='bar' is not one of auto, rich, lines$"):
        build_configs(composed("pretrain", "progress.style=bar"), "pretrain")


def group(path: str) -> dict:
    """A config group's file as written (before a recipe changes it)."""
    values = OmegaConf.to_container(OmegaConf.load(Path(CONFIGS, path)))
    assert isinstance(values, dict)
    values.pop("defaults", None)
    return values


def test_the_defaults_a_module_falls_back_on_are_the_shipped_values():
    """An old checkpoint's recorded settings may lack a key; the module then reads the value a
    run of today gets from the YAML, not another one. Each default written in the code is
    compared with the config group that writes it too."""
    online_probe = probe_settings(group("online_probe/default.yaml"))
    assert probe_settings({}) == online_probe
    for kind, extra in (("pretrain", ()), ("distill", ("teacher=unused",))):
        assert probe_settings(OmegaConf.to_container(composed(kind, *extra).probe)) == online_probe
    assert MixupConfig() == MixupConfig.from_dict(group("mixup/default.yaml"))
    assert EmaConfig() == EmaConfig.from_dict(group("ema/default.yaml"))
    mask = group("mask/pretrain.yaml")
    assert MaskConfig.from_dict({"type": "tube", "ratio": 0.9}).decoder_ratio == mask["decoder_ratio"]
    for name in ("pretrain", "finetune"):
        optim = group(f"optim/{name}.yaml")
        assert OptimConfig.from_dict(optim).warmup_steps == optim["warmup_steps"]
    assert PerfConfig() == PerfConfig.from_dict(group("perf/default.yaml"), unknown="error")
    cache = TeacherCacheConfig.from_dict(group("distill/default.yaml")["cache"], unknown="error")
    assert cache == TeacherCacheConfig() and DistillConfig.__dataclass_fields__["cache"].default is None


@pytest.mark.parametrize(
    "name, override, words",
    [
        (
            "pretrain",
            "perf.verdict_after=0",
            "perf.verdict_after=0 is out of range; allowed: an integer >= 1",
        ),
        ("finetune", "perf.peak_tflops=-1", "perf.peak_tflops=-1 is out of range; allowed: a number > 0"),
        ("pretrain", "viz.num_clips=0", "viz.num_clips=0 is out of range; allowed: an integer >= 1"),
        ("pretrain", "viz.every_n_epochs=1.5", "viz.every_n_epochs=1.5 is not an integer"),
        ("probe", "probe.epochs=0", "probe.epochs=0 is out of range; allowed: an integer >= 1"),
        ("probe", "probe.lrs=[1e-3,nan]", "probe.lrs=[0.001,nan]: item 1 (nan) is not a finite number"),
        ("probe", "probe.cached=true", "probe.cached=true: only with probe.kind=linear"),
        ("probe", "+probe.lr=1", "probe.lr is not a probe setting"),
        ("distill", "distill.cache.clip_cycle=-1", "distill.cache.clip_cycle=-1 is out of range"),
        ("distill", "+distill.cache.dirs=x", "distill.cache.dirs is not a distill.cache setting"),
    ],
)
def test_a_wrong_value_fails_at_start_up_in_one_line_naming_the_key(name, override, words):
    extra = {"probe": ["checkpoint=unused"], "distill": ["teacher=unused"]}.get(name, [])
    with pytest.raises(ConfigError) as err:
        build_configs(composed(name, override, *extra), name)
    assert str(err.value).startswith(words) and "\n" not in str(err.value)


def test_a_one_point_grid_may_be_given_as_a_number():
    protocol = build_configs(
        composed("probe", "checkpoint=unused", "probe.lrs=1e-2", "probe.knn_k=5"), "probe"
    )
    assert protocol.protocol().lrs == [0.01] and protocol.protocol().knn_k == [5]
    # numbers as metrics.json records them: floats where a float is meant, lists, not tuples
    s = ProbeProtocolConfig.from_dict({"weight_decays": (0, 1), "warmup_epochs": 2, "betas": (0, 0.5)})
    recorded = s.as_dict()
    assert [type(v) for v in recorded["weight_decays"]] == [float, float] and recorded["weight_decays"] == [
        0,
        1,
    ]
    assert type(recorded["warmup_epochs"]) is float
    assert s.betas == [0.0, 0.5] and type(ProbeProtocolConfig(knn_k=(5, 10)).as_dict()["knn_k"]) is list
    with pytest.raises(ConfigError, match=r"^probe.knn_k=\[\] is empty"):
        ProbeProtocolConfig(knn_k=[])


def test_the_code_defaults_of_perf_viz_and_the_probe_protocol_are_the_shipped_yaml():
    for name in ("pretrain", "finetune", "distill", "probe"):
        assert PerfConfig() == PerfConfig.from_dict(
            OmegaConf.to_container(composed(name).perf), unknown="error"
        )
    assert VizConfig() == VizConfig.from_dict(group("viz/default.yaml"), unknown="error")
    # the default preset (attentive) is the code's default; every preset sets every key
    default = ProbeProtocolConfig.from_dict(
        OmegaConf.to_container(composed("probe", "checkpoint=unused").probe)
    )
    assert dataclasses.replace(default, name=None) == ProbeProtocolConfig()
    for path in sorted(Path(CONFIGS, "probe").glob("*.yaml")):
        values = OmegaConf.to_container(composed("probe", "checkpoint=unused", f"probe={path.stem}").probe)
        assert list(values) == ProbeProtocolConfig.names(), path.name  # the YAML's order is the record's
        assert ProbeProtocolConfig.from_dict(values, unknown="error").name == path.stem


def test_the_model_settings_every_size_shares_are_the_constructors_defaults():
    """configs/model/shared.yaml and the classifier's head settings write the values the model
    classes default to; fine-tuning's drop path (0.1, the original's --drop_path) is the recipe's."""
    shared = group("model/shared.yaml")
    pretrain = inspect.signature(VideoMAEPretrain).parameters
    assert {key: pretrain[key].default for key in shared} == shared
    head = {k: v for k, v in group("classifier/default.yaml").items() if k != "drop_path_rate"}
    classifier = inspect.signature(VideoMAEClassifier).parameters
    assert {key: classifier[key].default for key in head} == head
