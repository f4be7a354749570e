"""A procedurally generated action dataset, written as real H.264 mp4 files.

The class of a video is a motion. Three kinds of content carry it (`content`):

- "dots" (the demo's): a field of random coloured dots drifting in one of 8 directions (PANS),
  a random-dot kinematogram; `dot_coherence` < 1 sends a share of the dots each its own way;
  `dot_turn` sends them back the opposite way halfway, so the class is which motion comes first;
  `dot_figure` shows the class's drift only in a bright square, the rest panning a random way.
  `motions=flow`: the dots follow one of the flow fields of CLASSES instead (translation,
  rotation or expansion about a point near the centre) and live `dot_lifetime` frames each
  (the domain-shift experiment's target, whose classes depend on the field's shape).
- "scene": a camera moving over a smooth, periodic colour texture: 8 pans (`motions=pans`), or
  pan, roll and zoom (CLASSES, `motions=mixed`).
- "objects": one or two large striped shapes on a smooth static background, moving the same way
  (CLASSES: translations, rotations, growth and its reverse).

Textures, positions, sizes, angles, colours and speeds are random, and motion wraps around, so a
single frame carries no information about the class: only motion does. Videos are cached on disk
under a directory named by the generation parameters.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from videomae.data.annotations import write_list
from videomae.data.synthetic_dots import render_dots, render_flow
from videomae.utils.atomic_files import atomic_directory
from videomae.utils.errors import ConfigError

CLASSES = ("right", "left", "down", "up", "clockwise", "counterclockwise", "grow", "shrink")
CONTENTS = ("dots", "scene", "objects")
MOTIONS = ("mixed", "pans", "flow")
PANS = ("east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east")


# Options added after datasets were generated and cached, with the value those datasets had.
LATER_OPTIONS = {"dot_turn": False, "dot_lifetime": 8, "dot_figure": 0.0}


@dataclass(frozen=True)
class SyntheticSpec:
    num_train_per_class: int = 40
    num_val_per_class: int = 10
    num_test_per_class: int = 0  # 0: no test split (the validation split serves as test)
    num_frames: int = 32
    size: int = 64
    fps: int = 10
    seed: int = 0
    content: str = "dots"
    # scene: mixed (pan, roll, zoom as CLASSES) | pans (8 directions, PANS); dots: flow (CLASSES as
    # flow fields), else pans
    motions: str = "mixed"
    # scene: low-frequency texture components, and the camera's pan (px/frame at 80 px), roll
    # (rad/frame) and zoom (log-scale/frame) speeds.
    components: int = 12
    max_frequency: int = 4
    pan: float = 1.5
    roll: float = 0.05
    zoom: float = 0.03
    # dots: the share of the frame they cover, and their radius (px at 64 px); `pan` is their speed.
    dot_density: float = 0.3
    dot_radius: tuple[float, float] = (1.5, 3.0)
    dot_coherence: float = 1.0
    # Halfway through the video the dots reverse: east-then-west and west-then-east hold the same
    # motions in another order, which only tokens' positions in time tell apart (a token mean
    # mostly cannot): a task for where/when information (docs/evaluation.md, the demo).
    dot_turn: bool = False
    # The class's drift only in a square of this share of the frame (bright dots), the rest drifting
    # one random way (dim dots): where to look is in every frame, and a mean over the frame mostly
    # sees the nuisance (0: the whole frame drifts the class's way).
    dot_figure: float = 0.0
    dot_lifetime: int = 8  # motions=flow: frames a dot lives before it is born again elsewhere
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
        object.__setattr__(self, "dot_radius", tuple(self.dot_radius))
        if self.content not in CONTENTS:
            raise ConfigError(f"data.synthetic.content={self.content!r} is not one of {', '.join(CONTENTS)}")
        if self.motions not in MOTIONS:
            raise ConfigError(f"data.synthetic.motions={self.motions!r} is not one of {', '.join(MOTIONS)}")
        if not 0 <= self.dot_figure < 1:
            raise ConfigError(f"data.synthetic.dot_figure={self.dot_figure!r} is not in [0, 1)")
        if self.dot_figure and (self.content != "dots" or self.motions == "flow"):
            raise ConfigError(
                f"data.synthetic.dot_figure={self.dot_figure!r} needs content=dots, motions not flow"
            )
        if self.motions == "flow" and self.content != "dots":
            raise ConfigError(f"data.synthetic.motions=flow needs content=dots, not {self.content!r}")

    def digest(self) -> str:
        fields = asdict(self)
        for key, default in LATER_OPTIONS.items():  # datasets made before them keep their directory
            if fields[key] == default:
                del fields[key]
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def class_names(spec: "SyntheticSpec") -> tuple[str, ...]:
    if spec.motions == "flow":
        return CLASSES
    return PANS if spec.content == "dots" or (spec.content == "scene" and spec.motions == "pans") else CLASSES


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
    if spec.content == "scene":
        return render_scene(label, spec, rng)
    if spec.content == "dots":
        return (
            render_flow(CLASSES[label], spec, rng)
            if spec.motions == "flow"
            else render_dots(label, spec, rng)
        )
    return render_objects(label, spec, rng)


def render_scene(label: int, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """A camera moving over a periodic colour texture, evaluated exactly at every pixel (no
    resampling blur): a sum of low-frequency cosines with random orientations and phases.

    The camera maps pixel (u, v) to texture point s R(angle) (u, v) + offset, so each cosine's
    argument is a u + b v + c, and cos(a u + b v + c) splits into products of 1-D factors: a
    frame is two small matrix products per channel.
    """
    size, num_frames, k = spec.size, spec.num_frames, spec.components
    freq = rng.integers(-spec.max_frequency, spec.max_frequency + 1, (k, 2)).astype(np.float64)
    freq[(freq == 0).all(axis=1), 0] = 1  # no constant component
    amp = rng.uniform(0.5, 1.0, (k, 3)) / np.sqrt(np.hypot(freq[:, 0], freq[:, 1]))[:, None]
    amp *= 0.5 / amp.sum(axis=0, keepdims=True)  # the texture stays within [0, 1]
    phase = rng.uniform(0, 2 * np.pi, (k, 3))
    base = rng.uniform(0.3, 0.7, 3)
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2  # about the frame centre
    angle0, scale0 = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.25)
    origin = rng.uniform(0, size, 2)
    pan = spec.pan * rng.uniform(0.8, 1.2) * size / 80
    motion = CLASSES[label]
    sign = 1 if motion in ("right", "down", "clockwise", "grow") else -1
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    heading = label * np.pi / 4  # pans: east, north-east, ... (image rows grow downwards)
    for t in range(num_frames):
        angle, scale, offset = angle0, scale0, origin.copy()
        if spec.motions == "pans":
            offset -= pan * t * np.array([np.cos(heading), -np.sin(heading)])
        elif motion in ("right", "left"):
            offset[0] -= sign * pan * t  # the camera moves left: the content moves right
        elif motion in ("down", "up"):
            offset[1] -= sign * pan * t
        elif motion in ("clockwise", "counterclockwise"):
            angle = angle0 - sign * spec.roll * t
        else:  # grow: the camera zooms in; shrink is the same range backwards
            scale = scale0 * np.exp(-spec.zoom * (t if motion == "grow" else num_frames - 1 - t))
        cos, sin = np.cos(angle), np.sin(angle)
        w = 2 * np.pi / size
        a = w * scale * (freq[:, 0] * cos + freq[:, 1] * sin)  # per unit of u (columns)
        b = w * scale * (freq[:, 1] * cos - freq[:, 0] * sin)  # per unit of v (rows)
        c = w * (freq @ offset)
        rows = b[None, :, None] * coords[:, None, None] + c[None, :, None] + phase[None]  # (H, k, 3)
        cols = a[:, None] * coords[None, :]  # (k, W)
        frame = (amp * np.cos(rows)).transpose(2, 0, 1) @ np.cos(cols)
        frame -= (amp * np.sin(rows)).transpose(2, 0, 1) @ np.sin(cols)  # (3, H, W)
        frames[t] = (np.clip(frame.transpose(1, 2, 0) + base, 0, 1) * 255).astype(np.uint8)
    return frames


def render_objects(label: int, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Striped shapes moving over a static background."""
    size, num_frames = spec.size, spec.num_frames
    background = _background(rng, spec)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    motion = CLASSES[label]
    objects = []
    for _ in range(int(rng.integers(*spec.objects))):
        obj: dict[str, Any] = dict(
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
    """H.264 mp4 (yuv420p) through PyAV (imported here: training on real videos runs without it,
    through torchcodec or decord, as data.backend=auto allows)."""
    import av

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
    # Readers never see a half-written dataset; when another process finishes first, its copy stays.
    with atomic_directory(out_dir, replace=False) as tmp:
        rng = np.random.default_rng(spec.seed)
        splits: tuple[tuple[str, int], ...] = (
            ("train", spec.num_train_per_class),
            ("val", spec.num_val_per_class),
        )
        if spec.num_test_per_class:
            splits += (("test", spec.num_test_per_class),)
        for split, per_class in splits:
            samples = []
            os.makedirs(os.path.join(tmp, split))
            names = class_names(spec)
            for i in range(per_class * len(names)):
                label = i % len(names)
                name = f"{split}/{names[label]}_{i // len(names):04d}.mp4"
                write_video(os.path.join(tmp, name), render_video(label, spec, rng), spec.fps)
                samples.append((name, label))
            write_list(os.path.join(tmp, f"{split}.csv"), samples)
        with open(os.path.join(tmp, "classes.txt"), "w") as f:
            f.writelines(f"{i} {name}\n" for i, name in enumerate(class_names(spec)))
        with open(os.path.join(tmp, "spec.json"), "w") as f:
            json.dump(asdict(spec), f)
    return out_dir
