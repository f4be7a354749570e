"""Dense features of long real videos against windows cut by hand; layers and pools; an HF export
gives the same features as our model; resume; the script end to end."""

import csv
import json
import os
import runpy

import numpy as np
import pytest
import torch
from helpers import REPO, run_script, tiny_model, write_clip

from videomae import export_hf, export_ours, model_from_checkpoint
from videomae.data.transforms import resize_short_side, spatial_crops
from videomae.data.video import read_frames
from videomae.eval.dense_features import DenseExtractor, run_dense, window_starts
from videomae.eval.features import encoder_tokens, featurizer
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import normalize_uint8


def tiny(size=32, frames=4):
    torch.manual_seed(0)
    return tiny_model(depth=2, patch_size=8, num_frames=frames, img_size=size).eval()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_clip(
        str(tmp_path_factory.mktemp("long") / "long.mp4"), num_frames=53, width=48, height=40, seed=3
    )


def by_hand(model, path, starts, frames=4, rate=2, size=32):
    """Every frame decoded, each window cut from them, resized and centre-cropped, one by one."""
    video = torch.from_numpy(read_frames(path, lambda n: np.arange(n)))  # (N, H, W, 3)
    out = []
    for start in starts:
        idx = np.minimum(start + np.arange(frames) * rate, len(video) - 1)
        clip = resize_short_side(video[idx].permute(0, 3, 1, 2), size)
        (crop,) = spatial_crops(clip, size, 1)
        with torch.no_grad():
            out.append(model.encoder(normalize_uint8(crop.transpose(0, 1)[None])).mean(1)[0])
    return torch.stack(out).numpy()


def test_windows_slide_over_the_whole_video():
    assert window_starts(53, 8, 4) == list(range(0, 46, 4))
    assert window_starts(5, 8, 4) == [0]  # shorter than a window: one, its last frame repeated


def test_dense_features_equal_windows_cut_by_hand(long_video):
    model = tiny()
    extractor = DenseExtractor(
        featurizer(model), num_frames=4, sampling_rate=2, stride=5, input_size=32, batch_size=3
    )
    features, total = extractor.video(long_video)
    assert total == 53
    starts = window_starts(53, 8, 5)
    assert features.shape == (len(starts), 32) == (10, 32)
    np.testing.assert_allclose(features, by_hand(model, long_video, starts), rtol=1e-4, atol=1e-5)


def test_layers_and_pools(long_video):
    model = tiny()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        first = encoder_tokens(model, x, layer=1)
        manual = model.encoder.blocks[0](model.encoder.patch_embed(x) + model.encoder.pos_embed(32, x))
        torch.testing.assert_close(first, manual)
        torch.testing.assert_close(encoder_tokens(model, x, layer=-1), model.encoder(x))
        torch.testing.assert_close(featurizer(model, pool="mean")(x), model.encoder(x).mean(1))
        grid = featurizer(model, layer=1, pool="none")(x)
        assert grid.shape == (2, 2, 4, 4, 32)
        cls = featurizer(model, pool="cls_like")(x)
        torch.testing.assert_close(cls.mean(-1), torch.zeros(2), atol=1e-5, rtol=0)
        classifier = tiny_model(5, depth=2, patch_size=8)
        classifier.eval()
        torch.testing.assert_close(featurizer(classifier, pool="cls_like")(x), classifier.forward_features(x))
    for bad, words in (({"layer": 3}, "layer=3: a block number 1..2"), ({"pool": "max"}, "pool='max'"),
                       ({"pool": "attentive"}, "pool=attentive needs probe=")):  # fmt: skip
        with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
            featurizer(model, **bad)


def test_hf_export_gives_the_same_dense_features(tmp_path, long_video):
    model = tiny()
    ours, _ = model_from_checkpoint(export_ours(model, tmp_path / "ours.safetensors"))
    hf, report = model_from_checkpoint(export_hf(model, tmp_path / "hf"))
    assert report.layout != "ours"
    feats = []
    for m in (ours.eval(), hf.eval()):
        extractor = DenseExtractor(featurizer(m, layer=None), 4, 2, 8, 32, batch_size=4)
        feats.append(extractor.video(long_video)[0])
    np.testing.assert_allclose(feats[0], feats[1], rtol=1e-4, atol=1e-5)


def test_resume_skips_written_videos_and_the_index_lists_all(tmp_path, long_video):
    model = tiny()
    other = write_clip(str(tmp_path / "short.mp4"), num_frames=12, width=48, height=40, seed=1)
    samples = [(long_video, 0), (other, 1)]
    root = os.path.commonpath([long_video, other])
    extractor = DenseExtractor(featurizer(model), 4, 2, 4, 32)
    meta = {"num_frames": 4, "sampling_rate": 2, "stride": 4}
    first = run_dense(extractor, samples[:1], root, str(tmp_path / "out"), meta)
    assert first["videos"] == 1
    second = run_dense(extractor, samples, root, str(tmp_path / "out"), meta)
    assert second["videos"] == 1  # only the new one
    rows = list(csv.DictReader(open(second["index"])))
    assert [r["label"] for r in rows] == ["0", "1"] and rows[0]["num_video_frames"] == "53"
    arrays = [np.load(tmp_path / "out" / r["feature_file"]) for r in rows]
    assert [a.shape for a in arrays] == [(len(window_starts(53, 8, 4)), 32), (2, 32)]


@pytest.mark.slow
def test_the_script_writes_one_npy_per_video_and_an_index(tmp_path, synthetic_root):
    path = export_ours(tiny(), tmp_path / "m.safetensors")
    args = [f"checkpoint={path}", f"data.root={synthetic_root}", "data.num_workers=0", "data.sampling_rate=1",
            "data.synthetic.num_train_per_class=2", "data.synthetic.num_val_per_class=1",
            "data.synthetic.num_frames=16", "data.synthetic.size=64", "mode=dense", "stride=4", "split=val",
            "layer=1", "pool=mean", f"out={tmp_path / 'dense'}"]  # fmt: skip
    result = run_script("extract_features.py", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "windows/s" in result.stdout and "8 videos written" in result.stdout
    index = json.loads((tmp_path / "dense" / "index.json").read_text())
    assert index["layer"] == 1 and index["stride"] == 4 and index["videos"] == 8
    rows = list(csv.DictReader(open(tmp_path / "dense" / "index.csv")))
    assert len(rows) == 8 and all(
        np.load(tmp_path / "dense" / r["feature_file"]).shape == (4, 32) for r in rows
    )
    again = run_script("extract_features.py", *args)
    assert "8 already done" in again.stdout and "0 videos written" in again.stdout


def test_pool_none_on_the_command_line_keeps_the_token_grid(tmp_path, synthetic_root):
    main = runpy.run_path(os.path.join(REPO, "scripts", "extract_features.py"))["main"]
    path = export_ours(tiny(), tmp_path / "m.safetensors")
    main([f"checkpoint={path}", f"data.root={synthetic_root}", "data.num_workers=0", "data.test_clips=1",
          "data.test_crops=1", "data.synthetic.num_train_per_class=2", "data.synthetic.num_val_per_class=1",
          "data.synthetic.num_frames=16", "data.synthetic.size=64", "pool=none",
          f"out={tmp_path / 'f.npz'}"])  # fmt: skip
    assert np.load(tmp_path / "f.npz")["features"].shape == (8, 2, 4, 4, 32)


def test_shards_split_the_videos_and_the_last_index_lists_them_all(tmp_path, long_video):
    videos = [
        write_clip(str(tmp_path / f"v{i}.mp4"), num_frames=10, width=48, height=40, seed=i) for i in range(3)
    ]
    samples = [(v, i) for i, v in enumerate(videos)]
    extractor = DenseExtractor(featurizer(tiny()), 4, 2, 4, 32)
    meta = {"num_frames": 4, "sampling_rate": 2, "stride": 4}
    first = run_dense(extractor, samples, str(tmp_path), str(tmp_path / "out"), meta, shard=(0, 2))
    assert first["videos"] == 2 and len(list(csv.DictReader(open(first["index"])))) == 2
    second = run_dense(extractor, samples, str(tmp_path), str(tmp_path / "out"), meta, shard=(1, 2))
    assert second["videos"] == 1
    assert [r["video"] for r in csv.DictReader(open(second["index"]))] == ["v0.mp4", "v1.mp4", "v2.mp4"]
