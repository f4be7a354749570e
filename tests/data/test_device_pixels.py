"""data.device_transforms: pre-training's crop, resize and flip on the device equal the CPU path."""

import random

import numpy as np
import pytest
import torch
from helpers import place
from torch.utils.data import DataLoader

from videomae.data.config import DataConfig
from videomae.data.datamodule import create_datamodule
from videomae.data.dataset import VideoClipDataset
from videomae.data.device_pixels import collate_windows, crop_resize_flip
from videomae.data.sampling import ClipSampler
from videomae.data.transforms import PretrainTransform
from videomae.utils.errors import ConfigError


def datasets(video_bank, num_sample):
    samples = [(video_bank["mp4"], 0), (video_bank["mp4_b"], 1), (video_bank["avi"], 2)] * 2
    make = lambda defer: VideoClipDataset(  # noqa: E731
        samples, ClipSampler(4, "dense", 2), PretrainTransform(32), num_sample, defer_pixels=defer
    )
    return make(False), make(True)


def batches(dataset, collate=None):
    dataset.epoch_seed = 7  # augmentation drawn from (seed, index), as in training
    loader = DataLoader(dataset, batch_size=3, num_workers=0, collate_fn=collate)
    return list(loader)


@pytest.mark.parametrize("num_sample", [1, 3])
def test_device_path_equals_the_cpu_path(video_bank, num_sample):
    cpu, device = datasets(video_bank, num_sample)
    for a, b in zip(batches(cpu), batches(device, collate_windows), strict=True):
        expected = a["video"].flatten(0, 1) if num_sample > 1 else a["video"]
        got = crop_resize_flip(b["frames"], b["crops"])
        assert got.shape == expected.shape and got.dtype == torch.uint8
        diff = (got.int() - expected.int()).abs()
        # the same resize; torch's uint8 CPU kernel rounds in fixed point: a few % of values are
        # one level (of 255) off, one in 10^5 two
        assert diff.max() <= 2 and (diff > 0).float().mean() < 0.06 and (diff > 1).float().mean() < 1e-4
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["label"], b["label"])
    flips = torch.cat([b["crops"][..., 4].flatten() for b in batches(device, collate_windows)])
    assert 0 < flips.sum() < len(flips)  # both flipped and unflipped clips were checked


def test_mixed_sizes_are_padded_and_cropped_from_their_own_frames():
    frames = [
        torch.full((2, 8, 12, 3), 10, dtype=torch.uint8),
        torch.full((2, 6, 16, 3), 200, dtype=torch.uint8),
    ]
    items = [
        {"frames": f, "crops": torch.tensor([[0, 0, 6, 6, 0, 4]]), "label": i} for i, f in enumerate(frames)
    ]
    batch = collate_windows(items)
    assert batch["frames"].shape == (2, 2, 8, 16, 3)
    clips = crop_resize_flip(batch["frames"], batch["crops"])
    assert (
        clips.shape == (2, 3, 2, 4, 4)
        and clips[0].unique().tolist() == [10]
        and clips[1].unique().tolist() == [200]
    )


def test_the_switch_reaches_the_loader_and_is_pretraining_only(video_bank, tmp_path):
    place(video_bank, "mp4", str(tmp_path / "a" / "v.mp4"))
    place(video_bank, "mp4_b", str(tmp_path / "b" / "v.mp4"))
    common = dict(num_frames=4, input_size=32, batch_size=2, num_workers=0, pin_memory=False)
    dm = create_datamodule(
        DataConfig("folder", str(tmp_path), device_transforms=True, num_sample=2, **common), "pretrain"
    )
    dm.setup("fit")
    random.seed(0)
    batch = next(iter(dm.train_dataloader()))
    assert "video" not in batch and batch["crops"].shape == (2, 2, 6) and batch["frames"].dtype == torch.uint8
    assert crop_resize_flip(batch["frames"], batch["crops"]).shape == (4, 3, 4, 32, 32)
    with pytest.raises(ConfigError, match="data.device_transforms=true is for pre-training only"):
        create_datamodule(DataConfig("folder", str(tmp_path), device_transforms=True, **common), "finetune")


def test_the_datamodule_applies_it_after_the_transfer():
    from videomae.data.batches import make_clips

    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (2, 4, 40, 48, 3), dtype=np.uint8))
    crops = torch.tensor([[[0, 0, 40, 40, 1, 32]], [[4, 8, 35, 40, 0, 32]]])
    batch = make_clips({"frames": frames, "crops": crops})
    assert batch["video"].shape == (2, 3, 4, 32, 32) and set(batch) == {"video"}


@pytest.mark.slow
def test_pretraining_runs_with_the_switch_and_a_backend(tmp_path, synthetic_root):
    from helpers import run_script, tiny_overrides

    args = [
        *tiny_overrides(synthetic_root),
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        "trainer.max_steps=2",
    ]
    result = run_script(
        "pretrain.py", *args, "data.device_transforms=true", "data.num_sample=2", "data.backend=pyav"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pre-training done: 2 steps" in result.stdout
