"""`scripts/extract_features.py`: one pooled feature per video, averaged over the test views."""

import csv
import os

import numpy as np
import pytest
import torch
from helpers import REPO, run_script, tiny_model, tiny_overrides
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from videomae import export_ours
from videomae.data.dataset import MultiViewDataset
from videomae.data.sampling import ClipSampler
from videomae.eval.features import pooled_features, run
from videomae.utils.pixels import normalize_uint8


def data_config(synthetic_root: str) -> tuple[dict, list[str]]:
    overrides = [o for o in tiny_overrides(synthetic_root) if o.startswith("data.")]
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose("pretrain", overrides=overrides)
    explicit = tuple(o.partition("=")[0].removeprefix("data.") for o in overrides)
    return OmegaConf.to_container(cfg.data, resolve=True), explicit


@pytest.mark.parametrize("task", ["pretrain", "classification"])
def test_one_row_per_video_averaged_over_views(tmp_path, synthetic_root, task):
    torch.manual_seed(0)
    model = tiny_model() if task == "pretrain" else tiny_model(8)
    ckpt = export_ours(model, tmp_path / "model.safetensors")
    data, explicit = data_config(synthetic_root)
    out = str(tmp_path / "features.npz")
    result = run(str(ckpt), data, out, explicit=explicit)
    loaded = np.load(out)
    features, paths, labels = loaded["features"], loaded["paths"], loaded["labels"]
    assert result["split"] == "test" and result["views"] == 2 * 3 and not result["skipped"]
    assert features.dtype == np.float32 and features.shape == (8, 32)  # 8 test videos (the val list)
    assert len(set(paths.tolist())) == 8 and sorted(labels.tolist()) == list(range(8))

    # by hand: every view of the third video through the encoder, then the mean
    dataset = MultiViewDataset(
        [(str(paths[2]), int(labels[2]))], ClipSampler(4, "dense", data["sampling_rate"]), 32, 2, 3
    )
    views = normalize_uint8(dataset[0]["video"])  # (6, C, T, H, W)
    model.eval()
    with torch.no_grad():
        per_view = torch.stack([pooled_features(model, v[None])[0] for v in views])
    if task == "classification":  # what the head sees: fc_norm of the mean token
        with torch.no_grad():
            assert torch.allclose(per_view[0], model.fc_norm(model.encoder(views[:1]).mean(1))[0])
    np.testing.assert_allclose(features[2], per_view.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(per_view[0].numpy(), per_view[-1].numpy())  # the two clips differ

    if task == "classification":
        return
    run(str(ckpt), data, str(tmp_path / "features.csv"), explicit=explicit)
    with open(tmp_path / "features.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["path", "label", "f0"] and len(rows[0]) == 2 + 32 and len(rows) == 1 + 8
    np.testing.assert_allclose(np.array(rows[1][2:], dtype=np.float32), features[0], rtol=1e-6)


@pytest.mark.slow
def test_extract_features_script(tmp_path, synthetic_root):
    ckpt = export_ours(tiny_model(), tmp_path / "m.safetensors")
    data = [o for o in tiny_overrides(synthetic_root) if o.startswith("data.")]
    out = tmp_path / "feats.npz"
    result = run_script(
        "extract_features.py", f"checkpoint={ckpt}", "dataset=synthetic", *data, f"out={out}", "split=train"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "features: 16 videos x 32 (train split, 6 views averaged per video)" in result.stdout
    assert np.load(out)["features"].shape == (16, 32)
    missing = tmp_path / "none.ckpt"
    bad = run_script("extract_features.py", f"checkpoint={missing}", *data)
    assert bad.returncode == 2 and bad.stderr.strip() == f"error: checkpoint={missing} does not exist"
