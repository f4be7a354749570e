"""What the model learned, in pictures: masked input and reconstruction next to the original clip.

`reconstruct(model, videos, mask)` runs a pre-training model and turns its predictions back into
pixels. With the normalized-pixel loss a prediction is a patch normalised by its own mean and
std (per channel), so it is un-normalised with the mean and std of the same patch of the
original clip, as the original code's `run_videomae_vis.py` does; the visible patches are pasted
back unchanged. `make_grid` lays the three out as a PNG-ready image (rows: original, masked,
reconstruction; columns: frames), `save_animation` as a GIF or MP4.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from videomae.errors import CheckpointError, ConfigError
from videomae.models.videomae import IMAGENET_MEAN, IMAGENET_STD, VideoMAEPretrain, patchify

ROW_LABELS = ("original", "masked", "reconstruction")
MASK_FILL = 0.5  # masked patches are shown in mid grey
DEFAULT_SAMPLING_RATE = 4
DEFAULT_MASK_RATIO = 0.9


def unpatchify(patches: torch.Tensor, grid: tuple[int, int, int], tubelet_size: int, patch_size: int):
    """b (t h w) (p0 p1 p2) c -> b c (t p0) (h p1) (w p2): the inverse of `patchify`."""
    B, _, _, C = patches.shape
    t, h, w = grid
    x = patches.reshape(B, t, h, w, tubelet_size, patch_size, patch_size, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(B, C, t * tubelet_size, h * patch_size, w * patch_size)


def to_pixels(videos: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalized videos (B, C, T, H, W) -> [0, 1] pixels, fp32."""
    mean = videos.new_tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1, 1)
    std = videos.new_tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1, 1)
    return videos.float() * std + mean


def prediction_to_pixels(
    pred: torch.Tensor, pixel_patches: torch.Tensor, mask: torch.Tensor, norm_pix_loss: bool = True
) -> torch.Tensor:
    """Predictions (B, N_masked, K * C) of the masked tokens -> [0, 1] pixels (B, N_masked, K, C).

    `pixel_patches`: the original clip in [0, 1] pixels, `patchify`-ed (B, N, K, C). With
    normalized-pixel targets each predicted patch gets back the mean and (unbiased) std of its own
    patch and channel, the inverse of the loss's target; otherwise predictions are pixels already.
    """
    B, _, K, C = pixel_patches.shape
    pred = pred.float().reshape(B, -1, K, C)
    if not norm_pix_loss:
        return pred
    original = pixel_patches[mask].reshape(B, -1, K, C)
    var, mean = torch.var_mean(original, dim=-2, correction=1, keepdim=True)
    return pred * (var.sqrt() + 1e-6) + mean


@torch.no_grad()
def reconstruct(
    model: VideoMAEPretrain, videos: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(masked_input, reconstruction, loss) for ImageNet-normalized `videos` (B, C, T, H, W).

    Both pictures are [0, 1] pixels (B, C, T, H, W), fp32: `masked_input` is the clip with the
    masked patches grey, `reconstruction` the model's prediction for the masked patches (un-normalised
    with each patch's own mean and std) and the original visible patches pasted back.
    """
    loss, pred = model(videos, mask)
    patches = patchify(to_pixels(videos), model.tubelet_size, model.patch_size)  # (B, N, K, C)
    grid = model.encoder.patch_embed.grid(*videos.shape[2:])
    recon = patches.clone()
    recon[mask] = prediction_to_pixels(pred, patches, mask, model.norm_pix_loss).flatten(0, 1)
    masked = patches.clone()
    masked[mask] = MASK_FILL
    unpatch = lambda x: unpatchify(x, grid, model.tubelet_size, model.patch_size)  # noqa: E731
    return unpatch(masked), unpatch(recon).clamp(0, 1), loss.float()


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """[0, 1] pixels (..., C, T, H, W) -> uint8 (..., T, H, W, C) with rounding."""
    x = (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return x.movedim(-4, -1).numpy()


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one fixed size
        return ImageFont.load_default()


def display_scale(height: int, minimum: int = 128) -> int:
    """Integer upscaling (nearest neighbour, patches stay sharp) for small frames."""
    return max(1, -(-minimum // height))


def make_grid(
    original: np.ndarray | torch.Tensor,
    masked: np.ndarray | torch.Tensor,
    reconstruction: np.ndarray | torch.Tensor,
    title: str | None = None,
    captions: list[str] | None = None,
    frame_ids: list[int] | None = None,
    scale: int | None = None,
    gap: int = 2,
) -> Image.Image:
    """A picture: for each clip three rows (original, masked, reconstruction), one column per frame.

    Inputs: uint8 (T, H, W, 3) or (B, T, H, W, 3) arrays (see `to_uint8`), or [0, 1] tensors
    (C, T, H, W) / (B, C, T, H, W). `captions`: one line per clip (e.g. its file name), `title`:
    one line on top, `frame_ids`: the video frame of each column. Small frames are enlarged by
    `scale` (default: to at least 128 px).
    """
    rows = [_as_frames(x) for x in (original, masked, reconstruction)]
    B, T, H, W, _ = rows[0].shape
    scale = scale or display_scale(H)
    h, w = H * scale, W * scale
    font = _font(14)
    label_w = 130
    line = 20
    head = (line if title else 0) + (line if frame_ids is not None else 0)
    clip_h = (line if captions else 0) + 3 * h + 2 * gap
    sep = 8
    texts = [title or "", *(captions or [])]
    text_w = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(x, font=font) for x in texts)
    width = max(label_w + T * (w + gap), int(text_w) + 8)
    canvas = Image.new("RGB", (width, head + B * clip_h + (B - 1) * sep), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 3), title, fill="black", font=font)
    if frame_ids is not None:
        for t, frame in enumerate(frame_ids):
            x = label_w + t * (w + gap) + 2
            draw.text((x, head - line + 3), f"frame {frame}", fill="black", font=font)
    for b in range(B):
        top = head + b * (clip_h + sep)
        if captions:
            draw.text((4, top + 3), captions[b], fill="black", font=font)
            top += line
        for r, frames in enumerate(rows):
            y = top + r * (h + gap)
            draw.text((4, y + h // 2 - 8), ROW_LABELS[r], fill="black", font=font)
            for t in range(T):
                tile = Image.fromarray(frames[b, t])
                if scale > 1:
                    tile = tile.resize((w, h), Image.Resampling.NEAREST)
                canvas.paste(tile, (label_w + t * (w + gap), y))
    return canvas


def _as_frames(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = to_uint8(x)
    x = np.asarray(x)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"expected uint8 (B, T, H, W, 3) frames, got {x.dtype} {x.shape}")
    return x


def animation_frames(
    original: np.ndarray | torch.Tensor,
    masked: np.ndarray | torch.Tensor,
    reconstruction: np.ndarray | torch.Tensor,
    scale: int | None = None,
    gap: int = 2,
) -> list[Image.Image]:
    """One image per time step: original | masked | reconstruction side by side, labelled; each
    clip of a batch is one more row."""
    rows = [_as_frames(x) for x in (original, masked, reconstruction)]
    B, T, H, W, _ = rows[0].shape
    scale = scale or display_scale(H)
    h, w = H * scale, W * scale
    font = _font(14)
    line = 20
    width, height = 3 * w + 2 * gap, line + B * (h + gap) - gap
    width = width + (-width % 2)  # even sizes for yuv420p video
    height = height + (-height % 2)
    images = []
    for t in range(T):
        canvas = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(canvas)
        for c, label in enumerate(ROW_LABELS):
            draw.text((c * (w + gap) + 2, 3), label, fill="black", font=font)
        for b in range(B):
            for c, frames in enumerate(rows):
                tile = Image.fromarray(frames[b, t])
                if scale > 1:
                    tile = tile.resize((w, h), Image.Resampling.NEAREST)
                canvas.paste(tile, (c * (w + gap), line + b * (h + gap)))
        images.append(canvas)
    return images


def save_animation(
    path: str | Path,
    original: np.ndarray | torch.Tensor,
    masked: np.ndarray | torch.Tensor,
    reconstruction: np.ndarray | torch.Tensor,
    fps: float = 4.0,
    scale: int | None = None,
) -> str:
    """Write the clip as an animation, one frame per time step: `.gif` (Pillow, loops forever) or
    `.mp4` (H.264 through PyAV)."""
    path = str(path)
    images = animation_frames(original, masked, reconstruction, scale)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gif":
        images[0].save(
            path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, disposal=1
        )
    elif ext == ".mp4":
        import av

        with av.open(path, "w") as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.width, stream.height = images[0].size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18"}
            for image in images:
                for packet in stream.encode(av.VideoFrame.from_image(image)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        raise ConfigError(f"animation file {path}: the extension must be .gif or .mp4")
    return path


# --- from a checkpoint and a video file -------------------------------------------------------------


@dataclass
class CheckpointSettings:
    """How a checkpoint's model was trained, where the files say so (None: unknown)."""

    mask_ratio: float | None = None
    mask_type: str | None = None
    sampling_rate: int | None = None
    sampling: str | None = None
    sources: list[str] = field(default_factory=list)


def checkpoint_settings(path: str | Path) -> CheckpointSettings:
    """Mask and frame sampling of a checkpoint's training: from a Lightning checkpoint's
    hyper-parameters and its run directory's `.hydra/config.yaml`, or the original code's `args`."""
    path = Path(path)
    found = CheckpointSettings()
    if path.is_dir() or path.suffix not in (".ckpt", ".pth", ".pt", ".bin"):
        return found
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
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
        from omegaconf import OmegaConf

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
) -> tuple[torch.Tensor, np.ndarray]:
    """One clip of `path` as the validation transform makes it: uint8 (C, T, H, W) and the frame
    indices. Dense sampling takes `num_frames` frames `sampling_rate` apart from frame `start`
    (default: the centre window); the short side is resized to cover `size`, then centre-cropped."""
    from torchvision.transforms.v2 import functional as TF

    from videomae.data.sampling import ClipSampler
    from videomae.data.video import read_frames

    sampler = ClipSampler(num_frames, sampling, sampling_rate)

    def choose(length: int) -> np.ndarray:
        if start is None or sampling == "segment":
            return sampler.views(length, 1)[0]
        return np.clip(start + sampling_rate * np.arange(num_frames), 0, length - 1)

    chosen = {}
    out_h, out_w = size
    # decord scales large videos down while decoding; the crop below gets the exact size
    frames = read_frames(path, lambda n: chosen.setdefault("i", choose(n)), short_side=max(out_h, out_w))
    video = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W)
    height, width = video.shape[-2:]
    ratio = max(out_h / height, out_w / width)
    resized = [max(out_h, round(height * ratio)), max(out_w, round(width * ratio))]
    video = TF.resize(video, resized, antialias=True)
    video = TF.center_crop(video, [out_h, out_w])
    return video.transpose(0, 1).contiguous(), chosen["i"]


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
    from videomae.checkpoints import model_from_checkpoint
    from videomae.masking import MaskGenerator
    from videomae.pixels import normalize_uint8

    if not os.path.exists(checkpoint):
        raise ConfigError(f"checkpoint={checkpoint} does not exist")
    if not os.path.isfile(video):
        raise ConfigError(f"video={video} is not a file")
    if animation not in ("gif", "mp4", "none"):
        raise ConfigError(f"animation={animation!r} is not one of gif, mp4, none")
    overrides = {"num_frames": num_frames, "img_size": input_size}
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
    from videomae.data.video import VideoReadError

    try:
        clip, frames = load_clip(video, num_frames, size, sampling_rate, settings.sampling or "dense", start)
    except VideoReadError as err:
        raise ConfigError(f"video={video} cannot be read: {err}") from None
    generator = torch.Generator().manual_seed(int(seed))
    mask = MaskGenerator(mask_type, mask_ratio, model.grid)(1, generator=generator).to(device)
    videos = normalize_uint8(clip[None].to(device))
    masked, recon, loss = reconstruct(model, videos, mask)
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, Path(video).stem)
    title = (
        f"{Path(checkpoint).name}: {Path(video).name}, frames {frames[0]}-{frames[-1]} step {sampling_rate}, "
        f"{mask_type} mask {mask_ratio:g}, loss {loss.item():.3f}"
    )
    make_grid(to_pixels(videos), masked, recon, title=title, frame_ids=list(frames)).save(f"{stem}.png")
    anim = None
    if animation != "none":
        anim = save_animation(f"{stem}.{animation}", to_pixels(videos), masked, recon, fps=fps)
    return VisualizeResult(
        f"{stem}.png", anim, loss.item(), mask_ratio, sampling_rate, [int(i) for i in frames]
    )
