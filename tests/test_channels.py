"""Video of any channel count: the pixel statistics, gray decoding on every backend, RGB weights
adapted to another channel count as timm adapts them, the exports, and one-channel runs end to end."""

import json
import os
import random

import av
import numpy as np
import pytest
import torch
from helpers import BACKENDS, TINY, run_script, tiny_overrides
from omegaconf import OmegaConf
from transformers import VideoMAEForVideoClassification

from videomae import create_classifier, create_pretrain_model, export_hf, export_ours, model_from_checkpoint
from videomae.checkpoints.load import load_weights
from videomae.data.transforms import ClipRandAugment
from videomae.data.video import read_frames
from videomae.models.masking import MaskGenerator
from videomae.training.configs import pixel_kwargs
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD, normalize_uint8, to_pixels

SIZE = dict(
    num_frames=4,
    img_size=32,
    patch_size=8,
    tubelet_size=2,
    embed_dim=32,
    depth=1,
    num_heads=2,
    decoder_embed_dim=32,
    decoder_depth=1,
    decoder_num_heads=2,
)


def test_default_statistics_and_rgb_normalisation_unchanged():
    assert GRAY_MEAN == pytest.approx((0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406,))
    assert GRAY_STD == pytest.approx((0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225,))
    video = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    assert torch.equal(normalize_uint8(video), (video.float() / 255.0 - mean) / std)  # bit-identical
    gray = video[:, :1]
    normalized = normalize_uint8(gray, GRAY_MEAN, GRAY_STD)
    assert torch.allclose(to_pixels(normalized, False, GRAY_MEAN, GRAY_STD), gray.float() / 255, atol=1e-6)


def test_rgb_weights_adapt_to_one_and_four_channels_as_timm_does(tmp_path):
    rgb = create_pretrain_model("vit_tiny", **SIZE).eval()
    torch.save({"model": rgb.state_dict()}, tmp_path / "rgb.pth")
    w = rgb.encoder.patch_embed.proj.weight.detach()

    gray = create_pretrain_model("vit_tiny", **SIZE, in_chans=1).eval()
    report = load_weights(gray, tmp_path / "rgb.pth")
    assert torch.allclose(gray.encoder.patch_embed.proj.weight, w.sum(1, keepdim=True))
    assert "adapted from 3 to 1 input channels (timm's adapt_input_conv: summed" in report.summary()
    # Summed weights on a gray clip are the RGB model on that clip repeated in every channel.
    clip = torch.randn(2, 1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(gray.encoder(clip), rgb.encoder(clip.expand(-1, 3, -1, -1, -1)), atol=1e-5)

    four = create_pretrain_model(
        "vit_tiny", **SIZE, in_chans=4, pixel_mean=[0.5] * 4, pixel_std=[0.25] * 4
    ).eval()
    report = load_weights(four, tmp_path / "rgb.pth")
    expected = torch.cat([w, w[:, :1]], dim=1) * 3 / 4
    assert torch.allclose(four.encoder.patch_embed.proj.weight, expected)
    assert "repeated and scaled by 3/4" in report.summary()
    videos = torch.randn(2, 4, 4, 32, 32)
    mask = MaskGenerator("tube", 0.75, four.grid)(2, torch.device("cpu"))
    loss, pred = four(videos, mask)
    assert torch.isfinite(loss) and pred.shape[-1] == 4 * 2 * 8 * 8


def test_channel_count_and_statistics_travel_with_the_weights(tmp_path):
    model = create_pretrain_model(
        "vit_tiny", **SIZE, in_chans=4, pixel_mean=[0.1, 0.2, 0.3, 0.4], pixel_std=[0.5] * 4
    )
    export_ours(model, tmp_path / "four.safetensors")
    back, _ = model_from_checkpoint(tmp_path / "four.safetensors")
    assert back.encoder.patch_embed.proj.in_channels == 4
    assert back.pixel_mean == (0.1, 0.2, 0.3, 0.4) and back.pixel_std == (0.5,) * 4
    rgb = create_pretrain_model("vit_tiny", **SIZE)
    export_ours(rgb, tmp_path / "rgb.safetensors")
    from videomae.checkpoints.spec import describe_model

    assert "in_chans" not in describe_model(rgb)["kwargs"]  # RGB descriptions stay as they were


def test_gray_classifier_exports_to_transformers_with_its_statistics(tmp_path):
    ours = create_classifier(
        "vit_tiny", 3, **{k: v for k, v in SIZE.items() if "decoder" not in k}, in_chans=1
    )
    ours.eval()
    export_hf(ours, tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    pre = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert config["num_channels"] == 1
    assert pre["image_mean"] == pytest.approx(list(GRAY_MEAN)) and pre["do_convert_rgb"] is False
    hf = VideoMAEForVideoClassification.from_pretrained(tmp_path / "hf").eval()
    videos = torch.randn(2, 1, 4, 32, 32)
    with torch.no_grad():
        expected = ours(videos)
        got = hf(videos.transpose(1, 2)).logits
    assert torch.allclose(got, expected, atol=1e-4)
    back, _ = model_from_checkpoint(tmp_path / "hf")
    assert back.encoder.patch_embed.proj.in_channels == 1


def write_gray_video(path: str, codec: str, pix_fmt: str, values: np.ndarray) -> None:
    """(T, H, W) uint16 or uint8 gray frames written as one-channel video."""
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = values.shape[2], values.shape[1], pix_fmt
        fmt = "gray16le" if values.dtype == np.uint16 else "gray"
        for frame in values:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format=fmt)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_channel_sources_and_gray_decoding_on_every_backend(tmp_path, backend):
    rng = np.random.default_rng(0)
    levels = (rng.integers(0, 256, (8, 1, 1)) * np.ones((8, 32, 64))).astype(np.uint8)  # flat frames
    depth = tmp_path / "depth.mkv"  # 16-bit depth, lossless: decoders give its top 8 bits
    write_gray_video(str(depth), "ffv1", "gray16le", levels.astype(np.uint16) * 256)
    frames = read_frames(str(depth), lambda n: np.arange(n), backend=backend, channels="gray")
    assert frames.shape == (8, 32, 64, 1)
    assert np.abs(frames[..., 0].astype(int) - levels).max() <= 1
    h264 = tmp_path / "gray.mp4"  # H.264 in 4:2:0 from gray frames (R = G = B)
    rgb = np.repeat(levels[..., None], 3, axis=-1)
    with av.open(str(h264), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for frame in rgb:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    frames = read_frames(str(h264), lambda n: np.arange(n), backend=backend, channels="gray")
    assert frames.shape == (8, 32, 64, 1)
    assert np.abs(frames[..., 0].astype(int) - levels).max() <= 2


def test_channel_settings_fail_in_one_line():
    def cfg(**data):
        return OmegaConf.create({"data": {"channels": "rgb", "mean": None, "std": None, **data}})

    assert pixel_kwargs(cfg(), 3) == {}
    assert pixel_kwargs(cfg(channels="gray"), 1) == {"in_chans": 1}
    with pytest.raises(ConfigError, match=r"data.channels=gray gives 1-channel frames but model.in_chans=3"):
        pixel_kwargs(cfg(channels="gray"), 3)
    with pytest.raises(ConfigError, match=r"need 1 values each"):
        pixel_kwargs(cfg(channels="gray", mean=[0.5, 0.5], std=[0.2, 0.2]), 1)
    with pytest.raises(ConfigError, match=r"4 channels have no default pixel mean/std"):
        pixel_kwargs(cfg(channels=None), 4)
    assert pixel_kwargs(cfg(channels=None, mean=[0.5] * 4, std=[0.2] * 4), 4) == {
        "in_chans": 4,
        "pixel_mean": [0.5] * 4,
        "pixel_std": [0.2] * 4,
    }


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_four_channel_video_decodes_with_its_alpha_plane(tmp_path, backend):
    """data.channels=rgba reads through PyAV whatever data.backend says (the one backend with alpha)."""
    frames = np.random.default_rng(0).integers(0, 256, (6, 32, 64, 4)).astype(np.uint8)
    for codec, pix_fmt, name in (("png", "rgba", "rgba.mov"), ("ffv1", "bgra", "rgba.mkv")):
        with av.open(str(tmp_path / name), "w") as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 32, pix_fmt
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgba")))
            container.mux(stream.encode())
        got = read_frames(str(tmp_path / name), lambda n: np.arange(n), backend=backend, channels="rgba")
        assert np.array_equal(got, frames), name


def test_randaugment_draws_once_for_every_channel():
    augment = ClipRandAugment("rand-m9-n4-mstd0.5-inc1", 32)
    plane = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    for seed in range(20):  # every op is drawn at some point
        random.seed(seed)
        np.random.seed(seed)
        out = augment(plane.expand(-1, 4, -1, -1).contiguous())
        assert out.shape == (3, 4, 32, 32)
        assert all(torch.equal(out[:, c], out[:, 0]) for c in range(4))  # one draw, every channel
        random.seed(seed)
        np.random.seed(seed)
        assert torch.equal(augment(plane), out[:, :1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "channels",
    [
        ["data.channels=gray", "model.in_chans=1"],
        [
            "data.channels=rgba",
            "model.in_chans=4",
            "data.mean=[0.45,0.45,0.45,0.5]",
            "data.std=[0.22,0.22,0.22,0.25]",
        ],
    ],
    ids=["one", "four"],
)
def test_one_and_four_channel_pretraining_finetuning_and_test_end_to_end(tmp_path, synthetic_root, channels):
    gray = channels
    pre = run_script(
        "pretrain.py", *TINY, *tiny_overrides(synthetic_root), *gray, f"hydra.run.dir={tmp_path / 'pre'}"
    )
    assert pre.returncode == 0, pre.stderr[-2000:]
    assert os.listdir(tmp_path / "pre" / "pictures")
    fine = run_script(
        "finetune.py",
        *[o for o in TINY if not o.startswith("model.decoder")],
        *[o for o in tiny_overrides(synthetic_root) if not o.startswith("model.decoder")],
        *gray,
        f"pretrained={tmp_path / 'pre'}",
        "test=true",
        "data.test_clips=1",
        "data.test_crops=1",
        f"hydra.run.dir={tmp_path / 'fine'}",
    )
    assert fine.returncode == 0, fine.stderr[-2000:]
    summary = json.loads((tmp_path / "fine" / "summary.json").read_text())
    assert "test/top1" in summary
