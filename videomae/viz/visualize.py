"""The `scripts/visualize.py` tool: a checkpoint's reconstruction of a clip of a video file, written
as a picture and an animation. The pictures themselves are `videomae.viz.render`'s.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from torchvision.transforms.v2 import functional as TF

from videomae.checkpoints import model_from_checkpoint
from videomae.checkpoints.io import read_tensors
from videomae.data.sampling import ClipSampler
from videomae.data.video import VideoDecoder, VideoReadError, channels_for
from videomae.models.masking import MaskGenerator
from videomae.models.patches import unpatchify
from videomae.models.videomae import VideoMAEPretrain
from videomae.utils.errors import CheckpointError, ConfigError
from videomae.utils.pixels import normalize_uint8, to_pixels
from videomae.viz.render import (
    animation_frames,
    display_scale,
    make_grid,
    prediction_to_pixels,
    reconstruct,
    save_animation,
    to_uint8,
)

# The rendering names stay importable from here, where they were first published.
__all__ = [
    "CheckpointSettings",
    "VisualizeResult",
    "animation_frames",
    "checkpoint_settings",
    "display_scale",
    "load_clip",
    "make_grid",
    "prediction_to_pixels",
    "reconstruct",
    "save_animation",
    "to_pixels",
    "to_uint8",
    "unpatchify",
    "visualize_video",
]

DEFAULT_SAMPLING_RATE = 4
DEFAULT_MASK_RATIO = 0.9


@dataclass
class CheckpointSettings:
    """How a checkpoint's model was trained, where the files say so (None: unknown)."""

    mask_ratio: float | None = None
    mask_type: str | None = None
    sampling_rate: int | None = None
    sampling: str | None = None
    sources: list[str] = field(default_factory=list)


def by_index(sampling: str | None) -> str:
    """The run's sampling when it picks frames by index; a run that sampled by time (fps) is
    shown with a dense window of `sampling_rate`, whose frame numbers the picture can name."""
    return sampling if sampling in ("dense", "segment") else "dense"


def checkpoint_settings(path: str | Path) -> CheckpointSettings:
    """Mask and frame sampling of a checkpoint's training: from a Lightning checkpoint's
    hyper-parameters and its run directory's `.hydra/config.yaml`, or the original code's `args`."""
    path = Path(path)
    found = CheckpointSettings()
    if path.is_dir() or path.suffix not in (".ckpt", ".pth", ".pt", ".bin"):
        return found
    try:
        obj, _ = read_tensors(path, mmap=True)
    except (CheckpointError, OSError):  # the settings are optional: a file we cannot read has none
        obj = None
    if isinstance(obj, dict):
        mask = (obj.get("hyper_parameters") or {}).get("mask")
        if isinstance(mask, dict):
            found.mask_ratio, found.mask_type = mask.get("ratio"), mask.get("type")
            found.sources.append("checkpoint hyper-parameters")
        args = obj.get("args")
        args = vars(args) if args is not None and hasattr(args, "__dict__") else args
        if isinstance(args, dict):
            found.mask_ratio = found.mask_ratio or args.get("mask_ratio")
            found.sampling_rate = args.get("sampling_rate")
            found.sources.append("checkpoint args")
    hydra_cfg = path.parent.parent / ".hydra" / "config.yaml"
    if path.parent.name == "checkpoints" and hydra_cfg.is_file():
        try:
            cfg = OmegaConf.load(hydra_cfg)
            data = cfg.get("data") or {}
            found.sampling_rate = found.sampling_rate or data.get("sampling_rate")
            found.sampling = data.get("pretrain_sampling") or data.get("sampling")
            mask = cfg.get("mask") or {}
            found.mask_ratio = found.mask_ratio or mask.get("ratio")
            found.mask_type = found.mask_type or mask.get("type")
            found.sources.append(str(hydra_cfg))
        except Exception:
            pass
    return found


def load_clip(
    path: str,
    num_frames: int,
    size: tuple[int, int],
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    sampling: str = "dense",
    start: int | None = None,
    channels: str = "rgb",
) -> tuple[torch.Tensor, np.ndarray]:
    """One clip of `path` as the validation transform makes it: uint8 (C, T, H, W) and the frame
    indices. Dense sampling takes `num_frames` frames `sampling_rate` apart from frame `start`
    (default: the centre window); the short side is resized to cover `size`, then centre-cropped."""
    sampler = ClipSampler(num_frames, sampling, sampling_rate)

    def choose(length: int) -> np.ndarray:
        if start is None or sampling == "segment":
            return sampler.views(length, 1)[0]
        return np.clip(start + sampling_rate * np.arange(num_frames), 0, length - 1)

    out_h, out_w = size
    # decord scales large videos down while decoding; the crop below gets the exact size
    decoder = VideoDecoder(timeout=None, channels=channels)  # one-off: no time limit
    frames, indices = decoder.read_with_indices(path, choose, short_side=max(out_h, out_w))
    video = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W)
    height, width = video.shape[-2:]
    ratio = max(out_h / height, out_w / width)
    resized = [max(out_h, round(height * ratio)), max(out_w, round(width * ratio))]
    video = TF.resize(video, resized, antialias=True)
    video = TF.center_crop(video, [out_h, out_w])
    return video.transpose(0, 1).contiguous(), indices


@dataclass
class VisualizeResult:
    png: str
    animation: str | None
    loss: float
    mask_ratio: float
    sampling_rate: int
    frames: list[int]


def visualize_video(
    checkpoint: str,
    video: str,
    out: str,
    sampling_rate: int | None = None,
    mask_ratio: float | None = None,
    mask_type: str | None = None,
    seed: int = 0,
    start: int | None = None,
    animation: str = "gif",
    fps: float = 4.0,
    device: str = "cpu",
    num_frames: int | None = None,
    input_size: int | None = None,
) -> VisualizeResult:
    """The `scripts/visualize.py` run: a checkpoint's reconstruction of one clip of `video`,
    written to `out/<video name>.png` and `.gif`/`.mp4`. `num_frames`, `input_size`: run the model
    at another clip size than the checkpoint's (positions are rebuilt; original-layout files do not
    record their size, 16 x 224 is assumed)."""
    if not os.path.exists(checkpoint):
        raise ConfigError(f"checkpoint={checkpoint} does not exist")
    if not os.path.isfile(video):
        raise ConfigError(f"video={video} is not a file")
    if animation not in ("gif", "mp4", "none"):
        raise ConfigError(f"animation={animation!r} is not one of gif, mp4, none")
    overrides: dict[str, Any] = {"num_frames": num_frames, "img_size": input_size}  # constructor arguments
    model, _ = model_from_checkpoint(checkpoint, **{k: v for k, v in overrides.items() if v})
    if not isinstance(model, VideoMAEPretrain):
        raise CheckpointError(
            f"checkpoint={checkpoint} is a classifier (no decoder): reconstructions need a pre-training "
            "checkpoint"
        )
    settings = checkpoint_settings(checkpoint)
    sampling_rate = int(sampling_rate or settings.sampling_rate or DEFAULT_SAMPLING_RATE)
    mask_ratio = float(mask_ratio or settings.mask_ratio or DEFAULT_MASK_RATIO)
    mask_type = mask_type or settings.mask_type or "tube"
    t, h, w = model.grid
    num_frames, size = t * model.tubelet_size, (h * model.patch_size, w * model.patch_size)
    model = model.to(device).eval()
    try:
        channels = channels_for(model.encoder.patch_embed.proj.in_channels)
        clip, frames = load_clip(
            video, num_frames, size, sampling_rate, by_index(settings.sampling), start, channels
        )
    except (VideoReadError, ValueError) as err:
        raise ConfigError(f"video={video} cannot be read: {err}") from None
    generator = torch.Generator().manual_seed(int(seed))
    mask = MaskGenerator(mask_type, mask_ratio, model.grid)(1, generator=generator).to(device)
    videos = normalize_uint8(clip[None].to(device), model.pixel_mean, model.pixel_std)
    shown = to_pixels(videos, False, model.pixel_mean, model.pixel_std)
    masked, recon, loss = reconstruct(model, videos, mask)
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, Path(video).stem)
    title = (
        f"{Path(checkpoint).name}: {Path(video).name}, frames {frames[0]}-{frames[-1]} step {sampling_rate}, "
        f"{mask_type} mask {mask_ratio:g}, loss {loss.item():.3f}"
    )
    make_grid(shown, masked, recon, title=title, frame_ids=list(frames)).save(f"{stem}.png")
    anim = None
    if animation != "none":
        anim = save_animation(f"{stem}.{animation}", shown, masked, recon, fps=fps)
    return VisualizeResult(
        f"{stem}.png", anim, loss.item(), mask_ratio, sampling_rate, [int(i) for i in frames]
    )
