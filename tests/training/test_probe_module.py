"""The probe's Lightning module and data pieces, without a Trainer: the grid, the frozen encoder,
the views' grouping, the segments, the settings' one-line errors."""

import os

import numpy as np
import pytest
import torch
from helpers import tiny_model
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from videomae.data.sampling import ClipSampler
from videomae.data.segments import SegmentClipDataset
from videomae.training.probe_data import ProbeDataModule, hold_out
from videomae.training.probe_module import ProbeModule
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.training.probe_run import build_datamodule
from videomae.utils.errors import ConfigError


def module(kind="attentive", clips=1, **probe) -> ProbeModule:
    s = ProbeProtocolConfig.from_dict({"kind": kind, "depth": 2, "num_heads": 2, "clips": clips, **probe})
    m = ProbeModule(num_classes=3, probe=s, embed_dim=32, seed=0)
    encoder = tiny_model(patch_size=8, img_size=16)
    m.attach_encoder(encoder)
    return m


def test_one_head_per_grid_point_each_with_its_own_lr_and_weight_decay():
    m = module(lrs=[1e-3, 1e-2], weight_decays=[0.0, 0.1])
    assert m.names == ["lr0.001_wd0", "lr0.001_wd0.1", "lr0.01_wd0", "lr0.01_wd0.1"]

    class FakeTrainer:
        estimated_stepping_batches = 10
        max_epochs = 2

    m.trainer = FakeTrainer()  # type: ignore[assignment]
    optimizer = m.configure_optimizers()["optimizer"]
    groups = optimizer.param_groups
    assert len(groups) == 8
    for h, (lr, wd) in enumerate(m.grid):
        decay, rest = groups[2 * h], groups[2 * h + 1]
        assert decay["lr"] == rest["lr"] == lr and decay["weight_decay"] == wd and rest["weight_decay"] == 0
        ids = {id(p) for p in m.heads[h].parameters()}
        assert {id(p) for p in decay["params"] + rest["params"]} == ids
        assert id(m.heads[h].query) in {id(p) for p in rest["params"]}  # no decay on the query


def test_the_encoder_is_frozen_and_stays_in_eval_mode():
    m = module(lrs=[1e-2, 1e-3])
    m.train()
    assert not m.encoder.training and all(h.training for h in m.heads)
    assert not any(p.requires_grad for p in m.encoder.parameters())
    video = torch.randint(0, 255, (2, 3, 4, 16, 16), dtype=torch.uint8)
    loss = m.training_step({"video": video, "label": torch.tensor([0, 2])}, 0)
    loss.backward()
    assert all(p.grad is None for p in m.encoder.parameters())
    # the heads share nothing: the sum's gradient of head 0 is the gradient of head 0's own loss
    grads = [p.grad.clone() for p in m.heads[0].parameters()]
    m.zero_grad()
    tokens = m.tokens(video[:, None])  # (B, 1 clip, C, T, H, W)
    torch.nn.functional.cross_entropy(m.heads[0](tokens), torch.tensor([0, 2])).backward()
    for a, p in zip(grads, m.heads[0].parameters(), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_tokens_of_the_clips_of_a_video_are_concatenated():
    m = module(clips=2)
    video = torch.randint(0, 255, (3, 2, 3, 4, 16, 16), dtype=torch.uint8)  # (B, clips, C, T, H, W)
    tokens = m.tokens(video)
    assert tokens.shape == (3, 2 * 8, 32)  # 2 x (4/2 x 2 x 2) tokens per clip
    torch.testing.assert_close(tokens[1, 8:], m.tokens(video[1:2, 1:2])[0])


def test_the_training_batch_layout_comes_from_probe_clips_not_from_its_shape():
    """SegmentClipDataset gives (C, T, H, W) per video with clips=1, (K, C, T, H, W) otherwise:
    the step adds the clip axis from `probe.clips`; `tokens` takes (B, K, C, T, H, W) only."""
    m = module(clips=2)
    seen = []
    m.tokens = lambda v: (seen.append(v.shape), torch.zeros(len(v), 16, 32))[1]  # type: ignore[method-assign]
    m.training_step(
        {"video": torch.zeros(3, 2, 3, 4, 16, 16, dtype=torch.uint8), "label": torch.zeros(3).long()}, 0
    )
    one = module(clips=1)
    one.tokens = lambda v: (seen.append(v.shape), torch.zeros(len(v), 8, 32))[1]  # type: ignore[method-assign]
    one.training_step(
        {"video": torch.zeros(3, 3, 4, 16, 16, dtype=torch.uint8), "label": torch.zeros(3).long()}, 0
    )
    assert seen == [(3, 2, 3, 4, 16, 16), (3, 1, 3, 4, 16, 16)]
    one_clip = torch.zeros(3, 3, 4, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="not \\(B, K, C, T, H, W\\)"):
        module().tokens(one_clip)
    with pytest.raises(ValueError, match="not \\(B, K, C, T, H, W\\)"):  # not read as 1 clip of 2
        module(clips=2).training_step({"video": one_clip, "label": torch.zeros(3).long()}, 0)


# probe.* as a checkpoint of main (before ProbeProtocolConfig) recorded it in its hyper-parameters
OLD_HPARAMS = {"name": "attentive", "kind": "attentive", "depth": 2, "num_heads": 2, "mlp_ratio": 4.0,
               "layer": None, "clips": 1, "temporal_views": 1, "epochs": 1, "lrs": [0.001, 0.01],
               "weight_decays": [0.01], "betas": [0.9, 0.999], "warmup_epochs": 0.0, "final_lr": 0.0,
               "select": "auto", "holdout": 0.1, "knn_k": [20], "knn_temperature": [0.07], "cache": True,
               "cached": False, "linear_steps": 300}  # fmt: skip


def test_the_recorded_settings_are_plain_data_and_an_old_checkpoints_load():
    settings = ProbeProtocolConfig.from_dict(OLD_HPARAMS, unknown="error")
    m = ProbeModule(num_classes=3, probe=settings, embed_dim=32)
    assert type(m.hparams["probe"]) is dict and m.hparams["probe"] == OLD_HPARAMS
    assert all(type(v) in (list, str, int, float, bool, type(None)) for v in m.hparams["probe"].values())
    old = ProbeModule(num_classes=3, probe=dict(OLD_HPARAMS), embed_dim=32)
    assert old.protocol == settings and old.names == m.names == ["lr0.001_wd0.01", "lr0.01_wd0.01"]


def test_each_view_is_clips_spread_over_the_video_at_one_crop():
    """Clips x temporal views x crops, clip-major, from MultiViewDataset: view (v, crop) must get
    clips v, v + tv, ... at that crop."""
    m = module(clips=2)
    seen = []
    m.tokens = lambda v: (seen.append(v.clone()), torch.zeros(len(v), 4, 32))[1]  # type: ignore[method-assign]
    B, M, crops = 1, 4, 3  # 2 clips x 2 temporal views, 3 crops
    video = torch.zeros(B, M * crops, 3, 4, 16, 16, dtype=torch.uint8)
    for view in range(M * crops):
        clip, crop = divmod(view, crops)
        video[:, view, 0] = clip
        video[:, view, 1] = crop
    batch = {"video": video, "crop_index": torch.arange(crops).repeat(M)[None], "video_id": torch.tensor([0]),
             "label": torch.tensor([1])}  # fmt: skip
    m.views_step(batch)
    grouped = seen[0]  # (views, clips, C, T, H, W)
    assert grouped.shape[:2] == (2 * 3, 2)
    got = [(tuple(int(c) for c in g[:, 0, 0, 0, 0]), int(g[0, 1, 0, 0, 0])) for g in grouped]
    assert got == [((0, 2), 0), ((0, 2), 1), ((0, 2), 2), ((1, 3), 0), ((1, 3), 1), ((1, 3), 2)]
    assert m._outputs[0]["probs"].shape == (1, 1, 3)


def test_segments_take_one_clip_from_each_part_of_the_video():
    sampler = ClipSampler(4, "dense", 2)
    data = SegmentClipDataset([("a.mp4", 0)], sampler, lambda v: v, num_segments=4)
    clips = data.choose(80, np.random.default_rng(0))
    assert clips.shape == (4, 4)
    for k, clip in enumerate(clips):
        assert 20 * k <= clip.min() and clip.max() < 20 * (k + 1)
    one = SegmentClipDataset([("a.mp4", 0)], sampler, lambda v: v, num_segments=1)
    assert one.choose(80, np.random.default_rng(0)).shape == (4,)


def test_holdout_takes_a_share_of_every_class_and_leaves_the_rest():
    samples = [(f"{c}_{i}.mp4", c) for c in range(3) for i in range(10)]
    kept, held = hold_out(samples, 0.2, seed=0)
    assert sorted(kept + held) == sorted(samples) and not set(kept) & set(held)
    assert [sum(1 for _, c in held if c == k) for k in range(3)] == [2, 2, 2]
    assert hold_out(samples, 0.2, seed=0) == (kept, held)


@pytest.mark.parametrize(
    "key, value, words",
    [("kind", "mlp", "probe.kind=mlp is not allowed; allowed: one of attentive, linear, knn"),
     ("lrs", [1e-3, -1], "probe.lrs=[0.001,-1]"),
     ("select", "test", "probe.select=test is not allowed; allowed: one of"),
     ("clips", 0, "probe.clips=0"),
     ("bogus", 1, "probe.bogus is not a probe setting")],
)  # fmt: skip
def test_bad_settings_fail_in_one_line_naming_the_key(key, value, words):
    with pytest.raises(ConfigError, match=None) as err:
        ProbeProtocolConfig.from_dict({key: value}, unknown="error")
    assert words in str(err.value) and "\n" not in str(err.value)


def probe_cfg(*overrides):
    configs = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    with initialize_config_dir(config_dir=os.path.abspath(configs), version_base="1.3"):
        return compose("probe", overrides=["checkpoint=unused", *overrides])


def test_the_data_config_builds_a_probe_datamodule_and_pixel_stats_come_from_the_checkpoint():
    """data.mean/std (null in data/default.yaml) are the model's, not the datamodule's: the probe
    reads them from the checkpoint and refuses a value in one line."""
    cfg = probe_cfg()
    assert isinstance(
        build_datamodule(cfg, ProbeProtocolConfig.from_dict(OmegaConf.to_container(cfg.probe, resolve=True))),
        ProbeDataModule,
    )
    cfg = probe_cfg("data.mean=[0.5,0.5,0.5]")
    with pytest.raises(ConfigError) as err:
        build_datamodule(cfg, ProbeProtocolConfig.from_dict(OmegaConf.to_container(cfg.probe, resolve=True)))
    assert "data.mean" in str(err.value) and "\n" not in str(err.value)
