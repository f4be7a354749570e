"""The config files: a block every run shares is written once, in its config group (configs/<group>/),
and the primary configs (configs/pretrain.yaml, finetune.yaml, distill.yaml, probe.yaml) pick it in
their defaults lists, so that a setting cannot drift between the runs' copies."""

from pathlib import Path

import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# The blocks a primary config may write inline, as its own values over a group's: `data` (each
# run's batch size, the probe's augmentation, over configs/data/default.yaml and the dataset's) and
# `trainer` (the probe's schedule over configs/trainer/default.yaml). Only `data` is in several.
OWN_VALUES = {"data", "trainer"}
PER_RUN = {"data"}


def inline_blocks(configs: Path) -> dict[str, list[str]]:
    """Each top-level block (a mapping, not the defaults list) written inline in a primary config:
    block -> the primary configs that write it."""
    written: dict[str, list[str]] = {}
    for path in sorted(configs.glob("*.yaml")):
        config = yaml.safe_load(path.read_text()) or {}
        for key, value in config.items():
            if key != "defaults" and isinstance(value, dict) and value:
                written.setdefault(key, []).append(path.stem)
    return written


def repeated_blocks(configs: Path) -> dict[str, list[str]]:
    return {k: v for k, v in inline_blocks(configs).items() if len(v) > 1 and k not in PER_RUN}


def test_no_two_primary_configs_write_the_same_block():
    assert {"pretrain", "finetune", "distill", "probe"} <= {p.stem for p in CONFIGS.glob("*.yaml")}
    assert repeated_blocks(CONFIGS) == {}, "a shared block belongs in a config group (docs/architecture.md)"


def test_a_primary_config_holds_run_keys_and_picks_its_blocks_from_groups():
    inline = {k: v for k, v in inline_blocks(CONFIGS).items() if k not in OWN_VALUES}
    assert inline == {}, "a component's block belongs in its config group (docs/architecture.md)"


def test_the_shared_model_keys_are_written_once():
    """The settings every model size shares: model/shared.yaml, which each size file includes."""
    shared = set(yaml.safe_load((CONFIGS / "model" / "shared.yaml").read_text()))
    for path in sorted((CONFIGS / "model").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if path.stem == "shared":
            continue
        parent = "vit_tiny" if path.stem == "demo" else "shared"  # the demo: vit_tiny cut down
        assert config.get("defaults") == [parent], f"{path.name} does not include model/shared.yaml"
        values = {k for k, v in config.items() if k != "defaults" and "${model_size:" not in str(v)}
        # a size's own value over a shared one: the demo's patch and decoder only
        assert not values & shared or path.stem == "demo", f"{path.name} repeats {values & shared}"
