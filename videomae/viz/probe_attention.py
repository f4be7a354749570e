"""Where an attentive probe looks: its learned query's attention over a clip's tokens, drawn as a
heat map over the clip's middle frame (one row per probe, one column per clip).

Tensors in, an image out; `videomae.experiments.probes` reads the runs and the videos.
"""

import numpy as np
import torch
from PIL import Image, ImageDraw

from videomae.models.probe_heads import AttentiveHead
from videomae.viz.render import display_scale, label_font


def token_attention(head: AttentiveHead, tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """(B, h, w): the query's attention over the tokens (B, N, D) on their (t, h, w) grid,
    averaged over its heads and summed over time, so each clip's map sums to 1."""
    return head.attention(tokens).mean(dim=1).unflatten(1, grid).sum(dim=1)


def _hot(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> black, red, yellow, white (uint8 RGB)."""
    rgb = np.stack([np.clip(3 * x - k, 0, 1) for k in range(3)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def overlay(frame: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) frame half-covered by `heat` (h, w), scaled to its own maximum and
    spread over the frame's pixels, a token per block."""
    H, W, _ = frame.shape
    scaled = (heat / max(float(heat.max()), 1e-12)).astype(np.float32)
    cells = np.asarray(Image.fromarray(scaled, mode="F").resize((W, H), Image.Resampling.NEAREST))
    return (0.5 * frame + 0.5 * _hot(cells)).astype(np.uint8)


def attention_picture(
    frames: np.ndarray, maps: dict[str, np.ndarray], captions: list[str], title: str, gap: int = 2
) -> Image.Image:
    """`frames` uint8 (B, H, W, 3), the clips' middle frames; `maps` {row label: (B, h, w)} from
    `token_attention`; `captions` one per clip (column)."""
    B, H, W, _ = frames.shape
    scale = display_scale(H)
    h, w = H * scale, W * scale
    font, line = label_font(14), 20
    rows = [("clip (middle frame)", frames)]
    rows += [(label, np.stack([overlay(frames[b], m[b]) for b in range(B)])) for label, m in maps.items()]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = 8 + int(max(measure.textlength(label, font=font) for label, _ in rows))
    canvas = Image.new("RGB", (label_w + B * (w + gap), 2 * line + len(rows) * (h + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), title, fill="black", font=font)
    for b, caption in enumerate(captions):
        draw.text((label_w + b * (w + gap) + 2, line + 3), caption, fill="black", font=font)
    for r, (label, tiles) in enumerate(rows):
        y = 2 * line + r * (h + gap)
        draw.text((4, y + h // 2 - 8), label, fill="black", font=font)
        for b in range(B):
            tile = Image.fromarray(tiles[b]).resize((w, h), Image.Resampling.NEAREST)
            canvas.paste(tile, (label_w + b * (w + gap), y))
    return canvas
