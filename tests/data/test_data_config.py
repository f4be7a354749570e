"""The data config, the dataset factory and the thin datamodule: one place per setting, the index
read at a stated moment, no validation loader in pre-training, repeated clips flattened by the
datamodule (a declared batch, not a guessed one)."""

import os
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch
from helpers import REPO, place
from omegaconf import OmegaConf
from pytorch_lightning.utilities.model_helpers import is_overridden

from videomae.data.config import DataConfig
from videomae.data.datamodule import LabeledDataModule, VideoDataModule, create_datamodule
from videomae.data.factory import open_datasets
from videomae.utils.errors import ConfigError

REQUIRED = ("name", "root")  # the dataset's and the user's to set


def test_the_config_and_the_yaml_list_the_same_settings_with_the_same_defaults():
    yaml = OmegaConf.to_container(OmegaConf.load(os.path.join(REPO, "configs", "data", "default.yaml")))
    assert [f.name for f in fields(DataConfig)] == list(yaml)  # same keys, same order
    defaults = DataConfig(name="x", root="/")
    for key, value in yaml.items():
        if key in REQUIRED:
            continue
        ours = getattr(defaults, key)
        if key == "augment":
            assert defaults.augmentation == {
                k: tuple(v) if isinstance(v, list) else v for k, v in value.items()
            }
            continue
        assert ours == (tuple(value) if isinstance(value, list) else value), key


def test_bad_values_fail_in_one_line_naming_the_key():
    for values, message in [
        ({"num_frames": 0}, "data.num_frames=0 is out of range; allowed: an integer >= 1"),
        ({"layout": "tree"}, "data.layout=tree is not allowed; allowed: one of auto, list, official, folder"),
        ({"sampling_mode": "paper"}, "data.sampling_mode='paper' is not one of original, uniform"),
        ({"sampling": "random"}, "data.sampling='random' is not one of"),
        ({"augment": {"mixup": 1}}, "data.augment.mixup is not a data.augment setting; known: "),
        ({"root": None}, "data.root is not set: dataset=x needs data.root=DIR"),
        ({"foo": 1}, "data.foo is not a data setting; known: "),
    ]:
        with pytest.raises(ConfigError) as err:
            DataConfig.from_mapping({"name": "x", "root": "/", **values})
        assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_building_reads_no_data_and_load_reads_the_index_once(video_bank, tmp_path):
    missing = create_datamodule(DataConfig("folder", str(tmp_path / "nope")), "finetune")
    assert missing.datasets is None  # built: no file was read (a sweep's preflight reads none)
    with pytest.raises(ConfigError, match="is not a directory"):
        missing.load()
    for cls in ("a", "b"):
        place(video_bank, "mp4", str(tmp_path / "data" / cls / "v.mp4"))
    dm = create_datamodule(DataConfig("folder", str(tmp_path / "data")), "finetune")
    assert dm.num_classes is None and dm.classes is None
    datasets = dm.load()
    assert dm.load() is datasets and dm.num_classes == 2 and dm.classes == ["a", "b"]
    plain = open_datasets(DataConfig("folder", str(tmp_path / "data")), "finetune")
    assert plain.index.splits == datasets.index.splits  # the factory alone: no Lightning


def test_pretraining_has_no_validation_loader_by_construction(tmp_path):
    config = DataConfig("folder", str(tmp_path))
    pretrain, finetune = create_datamodule(config, "pretrain"), create_datamodule(config, "finetune")
    assert type(pretrain) is VideoDataModule and isinstance(finetune, LabeledDataModule)
    assert not is_overridden("val_dataloader", pretrain) and not is_overridden("test_dataloader", pretrain)
    assert is_overridden("val_dataloader", finetune) and is_overridden("test_dataloader", finetune)
    with pytest.raises(ConfigError, match="data mode 'eval' is not one of pretrain, finetune"):
        create_datamodule(config, "eval")


def test_the_datamodule_flattens_repeated_training_clips(video_bank, tmp_path):
    for cls in ("a", "b"):
        place(video_bank, "mp4", str(tmp_path / cls / "v.mp4"))
    small = dict(num_frames=4, input_size=32, batch_size=2, num_workers=0, pin_memory=False)
    dm = create_datamodule(DataConfig("folder", str(tmp_path), num_sample=3, **small), "finetune")
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    labels = batch["label"].clone()
    dm.trainer = SimpleNamespace(training=False)  # validation: left as it is
    assert dm.on_before_batch_transfer(dict(batch), 0)["video"].shape == (2, 3, 3, 4, 32, 32)
    dm.trainer = SimpleNamespace(training=True)
    flat = dm.on_before_batch_transfer(batch, 0)
    assert flat["video"].shape == (6, 3, 4, 32, 32)
    assert torch.equal(flat["label"], labels.repeat_interleave(3))
