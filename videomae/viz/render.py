"""What the model learned, in pictures: masked input and reconstruction next to the original clip.

`reconstruct(model, videos, mask)` runs a pre-training model and turns its predictions back into
pixels. With the normalized-pixel loss a prediction is a patch normalised by its own mean and
std (per channel), so it is un-normalised with the mean and std of the same patch of the
original clip, as the original code's `run_videomae_vis.py` does; the visible patches are pasted
back unchanged. `make_grid` lays the three out as a PNG-ready image (rows: original, masked,
reconstruction; columns: frames), `save_animation` as a GIF or MP4.

Tensors and arrays in, images out: reading checkpoints and videos is `videomae.viz.visualize`'s job.
"""

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from videomae.models.patches import denormalize_patches, patchify, unpatchify
from videomae.models.videomae import VideoMAEPretrain
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import IMAGENET_MEAN, IMAGENET_STD, to_pixels

ROW_LABELS = ("original", "masked", "reconstruction")
MASK_FILL = 0.5  # masked patches are shown in mid grey


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
    return denormalize_patches(pred, pixel_patches[mask].reshape(B, -1, K, C))


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
    # Any model with the pre-training interface; one without pixel statistics is an RGB one.
    mean, std = getattr(model, "pixel_mean", IMAGENET_MEAN), getattr(model, "pixel_std", IMAGENET_STD)
    pixels = to_pixels(videos, False, mean, std)
    patches = patchify(pixels, model.tubelet_size, model.patch_size)  # (B, N, K, C)
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
    channels = x.shape[-4]
    if channels == 1:  # a gray (infrared, depth) clip shown in gray
        x = x.expand(*x.shape[:-4], 3, *x.shape[-3:])
    elif channels != 3:  # shown by its first three channels (an alpha or depth plane is left out)
        x = x.narrow(-4, 0, min(channels, 3))
        if x.shape[-4] < 3:
            x = torch.cat([x, x.narrow(-4, 0, 1).expand(*x.shape[:-4], 3 - x.shape[-4], *x.shape[-3:])], -4)
    return x.movedim(-4, -1).numpy()


def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
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
    font = label_font(14)
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
    font = label_font(14)
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
        import av  # optional at import time: only MP4 output needs PyAV

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
