"""A procedurally generated action dataset, written as real H.264 mp4 files.

Every video shows one or two large striped shapes on a smooth background, all moving the same way;
the class is that motion. Positions, sizes, angles, colours and speeds are random, and translation
wraps around the frame, so a single frame carries no information about the class: only motion
does. Videos are cached on disk under a directory named by the generation parameters.
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

import av
import numpy as np

from videomae.data.annotations import write_list

CLASSES = ("right", "left", "down", "up", "clockwise", "counterclockwise", "grow", "shrink")


@dataclass(frozen=True)
class SyntheticSpec:
    num_train_per_class: int = 40
    num_val_per_class: int = 10
    num_frames: int = 32
    size: int = 80
    fps: int = 10
    seed: int = 0
    # Large shapes on a plain background: fine grain or a busy background is noise that a masked
    # autoencoder cannot predict (it keeps a normalized-pixel loss near 1), and small slow shapes
    # leave too little motion to classify from a few labeled videos.
    objects: tuple[int, int] = (1, 3)  # [low, high) shapes per video
    radius: tuple[float, float] = (0.2, 0.3)  # fraction of the frame
    speed: float = 2.0  # translation, x about 1 pixel per frame of an 80 px frame
    background_contrast: float = 0.1
    grain: float = 0.0

    def __post_init__(self):  # lists from a YAML config; tuples keep the spec hashable
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "radius", tuple(self.radius))

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _background(rng: np.random.Generator, spec: "SyntheticSpec") -> np.ndarray:
    """Smooth colour blobs (plus optional grain): different for every video, static over time."""
    size = spec.size
    coarse = rng.uniform(0, 1, (4, 4, 3))
    ys = np.linspace(0, 3, size)
    y0 = np.floor(ys).astype(int).clip(0, 2)
    fy = (ys - y0)[:, None, None]
    rows = coarse[y0] * (1 - fy) + coarse[y0 + 1] * fy  # (size, 4, 3)
    x0 = y0
    fx = (ys - x0)[None, :, None]
    smooth = rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx
    grain = rng.normal(0, spec.grain, (size, size, 1)) if spec.grain else 0.0
    return np.clip(0.15 + spec.background_contrast * smooth + grain, 0, 1)


def _draw_polygon(frame, xs, ys, obj, cx, cy, radius, angle):
    """Paint a striped regular polygon; distances wrap around the frame."""
    size = frame.shape[0]
    dx = (xs - cx + size / 2) % size - size / 2
    dy = (ys - cy + size / 2) % size - size / 2
    sides = obj["sides"]
    inside = np.ones_like(dx, dtype=bool)
    apothem = radius * np.cos(np.pi / sides)
    for k in range(sides):
        theta = angle + (2 * k + 1) * np.pi / sides
        inside &= dx * np.cos(theta) + dy * np.sin(theta) <= apothem
    # Stripes fixed to the shape make its rotation visible.
    along = dx[inside] * np.cos(angle) + dy[inside] * np.sin(angle)
    shade = 0.75 + 0.25 * np.sign(np.sin(along / (obj["stripe"] * radius)))
    frame[inside] = obj["color"] * shade[:, None]


def render_video(label: int, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one video of class `label`."""
    size, num_frames = spec.size, spec.num_frames
    background = _background(rng, spec)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    motion = CLASSES[label]
    objects = []
    for _ in range(int(rng.integers(*spec.objects))):
        obj = dict(
            cx=rng.uniform(0, size),
            cy=rng.uniform(0, size),
            radius=rng.uniform(*spec.radius) * size,
            angle=rng.uniform(0, 2 * np.pi),
            sides=int(rng.choice([3, 4, 5])),
            color=rng.uniform(0, 1, 3),
            stripe=rng.uniform(0.15, 0.35),
            speed=rng.uniform(0.8, 1.6) * spec.speed * size / 80,
            spin=rng.uniform(0.08, 0.18),
            rate=rng.uniform(0.03, 0.05),
        )
        objects.append(obj)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        for obj in objects:
            cx, cy, radius, angle = obj["cx"], obj["cy"], obj["radius"], obj["angle"]
            if motion in ("right", "left"):
                cx += obj["speed"] * t * (1 if motion == "right" else -1)
            elif motion in ("down", "up"):
                cy += obj["speed"] * t * (1 if motion == "down" else -1)
            elif motion in ("clockwise", "counterclockwise"):
                angle += obj["spin"] * t * (1 if motion == "clockwise" else -1)
            else:
                # Grow from half the drawn radius, shrink back to it: the same range both ways.
                scale = np.exp(obj["rate"] * (t if motion == "grow" else num_frames - 1 - t))
                radius *= 0.5 * scale
            _draw_polygon(frame, xs, ys, obj, cx, cy, radius, angle)
        frames[t] = (frame * 255).astype(np.uint8)
    return frames


def write_video(path: str, frames: np.ndarray, fps: int) -> None:
    """H.264 mp4 (yuv420p) through PyAV."""
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def ensure_synthetic(root: str, spec: SyntheticSpec) -> str:
    """Generate the dataset under `root` once; returns its directory (with train.csv, val.csv)."""
    out_dir = os.path.join(os.path.expanduser(root), f"synthetic-{spec.digest()}")
    if os.path.isfile(os.path.join(out_dir, "spec.json")):
        return out_dir
    os.makedirs(os.path.dirname(out_dir) or ".", exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".synthetic-", dir=os.path.dirname(out_dir))
    rng = np.random.default_rng(spec.seed)
    for split, per_class in (("train", spec.num_train_per_class), ("val", spec.num_val_per_class)):
        samples = []
        os.makedirs(os.path.join(tmp, split))
        for i in range(per_class * len(CLASSES)):
            label = i % len(CLASSES)
            name = f"{split}/{CLASSES[label]}_{i // len(CLASSES):04d}.mp4"
            write_video(os.path.join(tmp, name), render_video(label, spec, rng), spec.fps)
            samples.append((name, label))
        write_list(os.path.join(tmp, f"{split}.csv"), samples)
    with open(os.path.join(tmp, "classes.txt"), "w") as f:
        f.writelines(f"{i} {name}\n" for i, name in enumerate(CLASSES))
    with open(os.path.join(tmp, "spec.json"), "w") as f:
        json.dump(asdict(spec), f)
    try:
        os.rename(tmp, out_dir)  # atomic: readers never see a half-written dataset
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    return out_dir
