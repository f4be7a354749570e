"""Reconstruction pictures: the un-normalisation is exact, the pictures have the promised layout,
and `scripts/visualize.py` reads every checkpoint layout."""

import os

import av
import numpy as np
import pytest
import torch
from helpers import run_script, tiny_model, write_clip
from PIL import Image

from videomae import export_hf, export_original, export_ours
from videomae.models.masking import MaskGenerator
from videomae.models.patches import patchify, unpatchify
from videomae.utils.pixels import normalize_uint8, to_pixels
from videomae.viz.render import (
    animation_frames,
    display_scale,
    make_grid,
    reconstruct,
    save_animation,
    to_uint8,
)
from videomae.viz.visualize import visualize_video


def tiny(norm_pix_loss: bool = True, frames: int = 4, size: int = 32):
    return tiny_model(num_frames=frames, img_size=size, norm_pix_loss=norm_pix_loss)


class Oracle(torch.nn.Module):
    """Predicts exactly the loss's target: what a perfect model would output."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.tubelet_size, self.patch_size = model.tubelet_size, model.patch_size
        self.norm_pix_loss, self.encoder = model.norm_pix_loss, model.encoder

    def forward(self, videos, mask):
        patches = patchify(videos, self.tubelet_size, self.patch_size)
        return torch.zeros(()), self.model.forward_target(patches, mask)


def test_unpatchify_inverts_patchify():
    x = torch.randn(2, 3, 4, 32, 48)
    assert torch.equal(unpatchify(patchify(x, 2, 16), (2, 2, 3), 2, 16), x)


@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_perfect_prediction_reconstructs_the_original_pixels(norm_pix_loss):
    """Each predicted patch is un-normalised with its own patch's mean and std: a model whose
    predictions equal the normalized target gives back the clip, to the uint8 value."""
    torch.manual_seed(0)
    videos = torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8)
    videos[0, :, :, :16, :16] = 77  # a flat patch: std 0, still exact
    model = Oracle(tiny(norm_pix_loss))
    mask = MaskGenerator("tube", 0.75, (2, 2, 2))(2)
    masked, recon, _ = reconstruct(model, normalize_uint8(videos), mask)
    original = videos.permute(0, 2, 3, 4, 1).numpy()
    assert np.array_equal(to_uint8(recon), original)
    # the masked input keeps the visible patches and greys out the masked ones
    keep = ~mask.reshape(2, 2, 2, 2)[:, 0]  # (B, h, w), the same in every time slot (tube)
    shown = to_uint8(masked)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                tile = shown[b, :, i * 16 : (i + 1) * 16, j * 16 : (j + 1) * 16]
                if keep[b, i, j]:
                    assert np.array_equal(tile, original[b, :, i * 16 : (i + 1) * 16, j * 16 : (j + 1) * 16])
                else:
                    assert (tile == 128).all()


def test_real_model_reconstruction_pastes_visible_patches_back():
    torch.manual_seed(0)
    model = tiny().eval()
    videos = normalize_uint8(torch.randint(0, 256, (1, 3, 4, 32, 32), dtype=torch.uint8))
    mask = MaskGenerator("tube", 0.75, model.grid)(1)
    _, recon, loss = reconstruct(model, videos, mask)
    assert torch.isfinite(loss) and recon.shape == videos.shape
    visible = ~mask[0]
    ours = patchify(recon, 2, 16)[0][visible]
    truth = patchify(to_pixels(videos), 2, 16)[0][visible]
    torch.testing.assert_close(ours, truth)


def test_grid_has_three_rows_per_clip_and_one_column_per_frame():
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3), dtype=np.uint8)
    image = make_grid(frames, frames, frames, captions=["a", "b"], scale=1, gap=2)
    width, height = image.size
    assert width == 130 + 4 * (32 + 2)
    assert height == 2 * (20 + 3 * 32 + 2 * 2) + 8
    grid = np.asarray(image)
    # clip 1, row 2 (reconstruction), frame 3 sits where the layout says
    top = (20 + 3 * 32 + 4) + 8 + 20 + 2 * (32 + 2)
    left = 130 + 3 * (32 + 2)
    assert np.array_equal(grid[top : top + 32, left : left + 32], frames[1, 3])
    assert display_scale(32) == 4 and display_scale(224) == 1
    assert make_grid(frames, frames, frames).size[1] > 2 * 3 * 128  # small frames enlarged


@pytest.mark.parametrize("ext", ["gif", "mp4"])
def test_animation_has_one_frame_per_time_step(tmp_path, ext):
    frames = np.random.default_rng(0).integers(0, 256, (1, 6, 32, 32, 3), dtype=np.uint8)
    path = save_animation(tmp_path / f"a.{ext}", frames, frames, frames)
    if ext == "gif":
        assert Image.open(path).n_frames == 6
    else:
        with av.open(path) as container:
            assert sum(1 for _ in container.decode(video=0)) == 6
    assert len(animation_frames(frames, frames, frames)) == 6


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return write_clip(str(tmp_path_factory.mktemp("clip") / "clip.mp4"), num_frames=24, width=48, height=40)


@pytest.mark.parametrize("layout", ["ours", "hf", "original"])
def test_visualize_reads_every_checkpoint_layout(tmp_path, clip_path, layout):
    torch.manual_seed(0)
    model = tiny(frames=4, size=32)
    if layout == "ours":
        ckpt = export_ours(model, tmp_path / "model.safetensors")
    elif layout == "hf":
        ckpt = export_hf(model, tmp_path / "hf")
    else:
        ckpt = export_original(model, tmp_path / "model.pth")
    # the original layout does not record the clip size: say it (else 16 x 224 is assumed)
    size = {"num_frames": 4, "input_size": 32} if layout == "original" else {}
    result = visualize_video(str(ckpt), clip_path, str(tmp_path / "out"), animation="gif", **size)
    assert result.mask_ratio == 0.9 and result.sampling_rate == 4
    assert result.frames == [4, 8, 12, 16]  # the centre window of frames 0, 4, ..., 20
    image = Image.open(result.png)
    assert image.size[0] >= 4 * 128 and image.size[1] >= 3 * 128
    assert Image.open(result.animation).n_frames == 4


def test_visualize_refuses_a_classifier(tmp_path, clip_path):
    classifier = tiny_model(3)
    ckpt = export_ours(classifier, tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match="classifier"):
        visualize_video(str(ckpt), clip_path, str(tmp_path / "out"))


@pytest.mark.slow
def test_visualize_script(tmp_path, clip_path):
    ckpt = export_ours(tiny(), tmp_path / "model.safetensors")
    out = tmp_path / "out"
    result = run_script(
        "visualize.py", f"checkpoint={ckpt}", f"video={clip_path}", f"out={out}", "seed=3", "mask_ratio=0.75"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mask 0.75" in result.stdout
    assert sorted(os.listdir(out)) == ["clip.gif", "clip.png"]
    missing = run_script("visualize.py", f"checkpoint={tmp_path / 'nope.ckpt'}", f"video={clip_path}")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: checkpoint={tmp_path / 'nope.ckpt'} does not exist"
    no_video = run_script("visualize.py", f"checkpoint={ckpt}")
    assert no_video.returncode == 2 and no_video.stderr.strip() == "error: missing video=..."


def test_key_value_arguments():
    from videomae.config.cli import REQUIRED, parse_args
    from videomae.utils.errors import ConfigError

    options = {"checkpoint": REQUIRED, "seed": 0, "fps": 4.0, "start": None, "flag": False}
    args, rest = parse_args(
        ["checkpoint=a.ckpt", "seed=3", "fps=2", "start=null", "flag=true", "data.root=/x"],
        options,
        passthrough=("dataset", "data."),
    )
    assert args == {"checkpoint": "a.ckpt", "seed": 3, "fps": 2.0, "start": None, "flag": True}
    assert rest == ["data.root=/x"]
    with pytest.raises(ConfigError, match="missing checkpoint=..."):
        parse_args([], options)
    with pytest.raises(ConfigError, match="seed=x is not an integer"):
        parse_args(["checkpoint=a", "seed=x"], options)
    with pytest.raises(ConfigError, match="unknown argument 'sede'"):
        parse_args(["checkpoint=a", "sede=1"], options)
