"""The data benchmark's generated footage: H.264 videos of Kinetics-like size and content, made once
and cached, seen through many distinct paths."""

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from videomae.utils.atomic_files import atomic_path


def _write_bench_video(path: str, width: int, height: int, seconds: float, fps: int, seed: int) -> None:
    """A camera panning over a textured scene, a moving block and sensor noise: content that
    compresses like real footage (a few hundred kbit/s at 320p), not like a flat synthetic clip."""
    import av
    from PIL import Image

    # numpy and PIL only: this runs in forked processes, where torch's thread pool is not safe
    rng = np.random.default_rng(seed)
    scene_h, scene_w = height * 2, width * 2
    coarse = rng.uniform(0, 255, (scene_h // 16 + 2, scene_w // 16 + 2, 3)).astype(np.uint8)
    scene = np.asarray(
        Image.fromarray(coarse).resize((scene_w, scene_h), Image.Resampling.BICUBIC), dtype=np.float32
    )
    scene = np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
    noise = rng.integers(-6, 7, (16, height, width, 3), dtype=np.int16)
    color = rng.uniform(0, 255, 3).astype(np.uint8)
    vx, vy = rng.uniform(0.5, 1.5, 2) * rng.choice([-1, 1], 2)
    with atomic_path(path) as tmp, av.open(tmp, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast"}
        for t in range(int(seconds * fps)):
            y = int(height / 2 + (height / 2 - 1) * np.sin(t * 0.01 * vy + 1))
            x = int(width / 2 + (width / 2 - 1) * np.sin(t * 0.01 * vx))
            frame = scene[y : y + height, x : x + width].astype(np.int16) + noise[t % 16]
            bx = (t * 3) % (width - height // 5)
            frame[height // 3 : height // 3 + height // 5, bx : bx + height // 5] = color
            frame = np.clip(frame, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def bench_videos(
    cache_dir: str, count: int, short_side: int, seconds: float, fps: int, workers: int
) -> list[str]:
    """Paths to `count` generated videos (16:9, `short_side` high), made once and cached."""
    width = int(round(short_side * 16 / 9 / 2)) * 2
    directory = os.path.join(
        os.path.expanduser(cache_dir), f"bench2-{width}x{short_side}-{seconds:g}s-{fps}fps"
    )
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"video{i:03d}.mp4") for i in range(count)]
    todo = [(p, i) for i, p in enumerate(paths) if not os.path.isfile(p)]
    if todo:
        print(
            f"generating {len(todo)} videos {width}x{short_side}, {seconds:g} s, {fps} fps in {directory} ..."
        )
        with ProcessPoolExecutor(max(1, workers)) as pool:
            jobs = [pool.submit(_write_bench_video, p, width, short_side, seconds, fps, i) for p, i in todo]
            for job in jobs:
                job.result()
    # Many distinct paths (symlinks) over the few videos, so that the loader meets a path it has
    # not seen before about as often as in a real first epoch (no per-path cache helps it).
    links = os.path.join(directory, "links")
    os.makedirs(links, exist_ok=True)
    aliases = []
    for k in range(max(count, 512)):
        alias = os.path.join(links, f"clip{k:04d}.mp4")
        if not os.path.islink(alias):
            os.symlink(paths[k % count], alias)
        aliases.append(alias)
    return aliases
