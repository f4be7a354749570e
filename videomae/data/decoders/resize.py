"""The one reduced-size path of every backend: frames decoded at their native size (where the
backends agree bit for bit), then scaled here, so that `data.decode_short_side` gives the same
pixels whatever decodes. Each library's own scaler differed (up to 213 grey levels at sharp
edges between torchcodec and PyAV, 77 between decord and PyAV)."""

import numpy as np


def resize(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB scaled to `size` (height, width), bilinear with antialiasing (as
    torchvision resizes; PyTorch's uint8 kernel, 3-5x faster here than swscale through PyAV), or
    unchanged when `size` is None or already the size."""
    if size is None or tuple(frames.shape[1:3]) == tuple(size):
        return frames
    import torch

    video = torch.from_numpy(frames).permute(0, 3, 1, 2)
    scaled = torch.nn.functional.interpolate(video, size=tuple(size), mode="bilinear", antialias=True)
    return scaled.permute(0, 2, 3, 1).contiguous().numpy()


def upright(frames: np.ndarray, rotation: float) -> np.ndarray:
    """(N, H, W, 3) frames turned as the video's display rotation says (degrees counter-clockwise,
    as PyAV's `VideoFrame.rotation` and FFmpeg's display matrix give it), so that a phone video
    shows as a player shows it (torchcodec and decord turn frames themselves)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frames, turns, axes=(1, 2))) if turns else frames
