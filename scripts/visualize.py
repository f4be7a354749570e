"""Reconstruction pictures of a pre-trained VideoMAE: original, masked input and reconstruction.

python scripts/visualize.py checkpoint=runs/pretrain/.../checkpoints/last.ckpt video=clip.mp4 out=viz

checkpoint: any layout videomae.load_weights reads (our .ckpt/export, MCG-NJU .pth, HF directory).
video: a video file, or a directory (every video in it). Writes out/<name>.png and out/<name>.gif.
"""

import os
import sys

from videomae.config.cli import REQUIRED, parse_args, reported_errors
from videomae.utils.errors import ConfigError

OPTIONS = {
    "checkpoint": REQUIRED,
    "video": REQUIRED,
    "out": "viz",
    "sampling_rate": None,  # null: the checkpoint's training value, else 4
    "mask_ratio": None,  # null: the checkpoint's training value, else 0.9
    "mask_type": None,  # null: the checkpoint's (tube | random), else tube
    "seed": 0,  # the mask's seed
    "start": None,  # first frame of the clip; null: the centre window
    "animation": "gif",  # gif | mp4 | none
    "fps": 4.0,
    "device": "auto",  # auto: cuda when available
    "num_frames": None,  # null: the checkpoint's
    "input_size": None,  # null: the checkpoint's
}
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


def main(argv: list[str]) -> None:
    args, _ = parse_args(argv, OPTIONS, usage=__doc__)
    import torch

    from videomae.viz.visualize import visualize_video

    device = args.pop("device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    video = args.pop("video")
    if os.path.isdir(video):
        videos = sorted(
            os.path.join(video, f) for f in os.listdir(video) if f.lower().endswith(VIDEO_EXTENSIONS)
        )
        if not videos:
            raise ConfigError(f"video={video} is a directory without videos ({', '.join(VIDEO_EXTENSIONS)})")
    else:
        videos = [video]
    for path in videos:
        result = visualize_video(video=path, device=device, **args)
        made = ", ".join(p for p in (result.png, result.animation) if p)
        print(
            f"{path}: frames {result.frames[0]}-{result.frames[-1]} (every {result.sampling_rate}), "
            f"mask {result.mask_ratio:g}, loss {result.loss:.4f} -> {made}"
        )


if __name__ == "__main__":
    with reported_errors():
        main(sys.argv[1:])
