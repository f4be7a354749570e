"""The random-dot videos of videomae.data.synthetic: dots drifting one way (the demo's) and dots
following a flow field (motions=flow). `spec` is a synthetic.SyntheticSpec."""

from typing import Any

import numpy as np


def render_dots(label: int, spec: Any, rng: np.random.Generator) -> np.ndarray:
    """A random-dot field drifting in one of 8 directions, wrapping around (a random-dot
    kinematogram): any single frame is random dots, only their common motion tells the class.
    With `dot_figure` > 0 the class's drift shows only in a square of that share of the frame (the
    figure, bright dots); the rest (the ground, dim dots) drifts one random way, a camera's pan."""
    heading = label * np.pi / 4  # east, north-east, ... (image rows grow downwards)
    if not spec.dot_figure:
        return _drift(heading, spec.dot_coherence, (0.3, 1.0), spec, rng)[0]
    # The figure's dots are brighter, so where to look is in any frame, and which way it goes is
    # not: a mean over the frame mostly sees the ground's pan, a probe that finds the figure its drift.
    size = spec.size
    side = int(round(np.sqrt(spec.dot_figure) * size))
    top, left = rng.integers(0, size, 2)
    figure = np.zeros((size, size, 1), dtype=bool)
    figure[np.ix_((top + np.arange(side)) % size, (left + np.arange(side)) % size)] = True
    ground, background, speed = _drift(rng.uniform(0, 2 * np.pi), 1.0, (0.25, 0.55), spec, rng)
    inside, _, _ = _drift(heading, spec.dot_coherence, (0.75, 1.0), spec, rng, background, speed)
    return np.where(figure, inside, ground)


def _drift(heading, coherence, brightness, spec, rng, background=None, speed=None):
    """(T, H, W, 3) uint8 frames of dots covering `dot_density` of the frame, a `coherence` share of
    them moving `heading`, the rest each in a random direction; and the background and speed drawn
    (unless given), in the order the demo's datasets were drawn in."""
    size, num_frames = spec.size, spec.num_frames
    count = int(spec.dot_density * size * size / (np.pi * np.mean(spec.dot_radius) ** 2 * (size / 64) ** 2))
    pos = rng.uniform(0, size, (count, 2))
    radius = rng.uniform(spec.dot_radius[0], spec.dot_radius[1], count) * size / 64
    colors = rng.uniform(*brightness, (count, 3))
    background = rng.uniform(0.0, 0.2, 3) if background is None else background
    speed = spec.pan * rng.uniform(0.8, 1.2) * size / 64 if speed is None else speed
    # A `coherence` share of the dots moves in the class's direction, the rest each in a random
    # one: the class is the dominant motion, not any single dot's.
    headings = np.where(rng.uniform(size=count) < coherence, heading, rng.uniform(0, 2 * np.pi, count))
    velocity = speed * np.stack([np.cos(headings), -np.sin(headings)], axis=1)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    half = num_frames // 2
    for t in range(num_frames):
        travelled = min(t, 2 * half - t) if spec.dot_turn else t  # back the way they came
        centres = (pos + velocity * travelled) % size
        frames[t] = _paint_dots(background, size, centres, radius, colors)
    return frames, background, speed


def _paint_dots(background, size, centres, radius, colors) -> np.ndarray:
    """One uint8 frame of anti-aliased dots; a dot across an edge shows on the other side."""
    frame = np.broadcast_to(background, (size, size, 3)).copy()
    for (cx, cy), r, color in zip(centres, radius, colors, strict=True):
        # Only the dot's bounding box.
        cols = np.arange(int(np.floor(cx - r - 1)), int(np.ceil(cx + r + 1)) + 1)
        rows = np.arange(int(np.floor(cy - r - 1)), int(np.ceil(cy + r + 1)) + 1)
        dist = np.hypot(cols[None, :] + 0.5 - cx, rows[:, None] + 0.5 - cy)
        cover = np.clip(r + 0.5 - dist, 0, 1)[..., None]  # anti-aliased edge
        box = np.ix_(rows % size, cols % size)
        frame[box] = frame[box] * (1 - cover) + color * cover
    return (frame * 255).astype(np.uint8)


def render_flow(motion: str, spec: Any, rng: np.random.Generator) -> np.ndarray:
    """Dots moving along one flow field (`motion`, one of synthetic.CLASSES): a translation (`pan`
    px/frame), a rotation (`roll` rad/frame) or an expansion or contraction (`zoom` log-scale per
    frame) about a point near the centre. Each dot lives `dot_lifetime` frames (ages staggered),
    then is born again at a uniform random place: a uniform field stays uniform under each of
    these flows, so any single frame is uniform random dots and only the motion tells the class.
    The dot count makes the expected density the same for every class (contraction packs dots,
    expansion thins them)."""
    size, num_frames, life = spec.size, spec.num_frames, max(spec.dot_lifetime, 1)
    sign = 1 if motion in ("right", "down", "clockwise", "grow") else -1
    speed = rng.uniform(0.8, 1.2)
    pan, roll, zoom = spec.pan * speed * size / 64, spec.roll * speed, spec.zoom * speed
    centre = size / 2 + rng.uniform(-size / 8, size / 8, 2)
    # Births fill a disk that still covers the frame after any of the flows' `life` frames.
    reach = (size / np.sqrt(2) + size / 8) * np.exp(zoom * life) + pan * life
    ages = np.arange(life)
    growth = np.exp(-2 * sign * zoom * ages) if motion in ("grow", "shrink") else np.ones(life)
    dot_area = np.pi * (np.mean(spec.dot_radius) * size / 64) ** 2
    count = int(spec.dot_density * np.pi * reach**2 / dot_area / growth.mean())
    lives = num_frames // life + 2
    phase = rng.integers(0, life, count)
    rho, theta = reach * np.sqrt(rng.uniform(size=(count, lives))), rng.uniform(0, 2 * np.pi, (count, lives))
    births = np.stack([rho * np.cos(theta), rho * np.sin(theta)], axis=-1)  # about the centre
    radius = rng.uniform(spec.dot_radius[0], spec.dot_radius[1], count) * size / 64
    colors = rng.uniform(0.3, 1.0, (count, 3))
    background = rng.uniform(0.0, 0.2, 3)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        age = (t + phase) % life
        p = births[np.arange(count), (t + phase) // life]
        if motion in ("right", "left"):
            p = p + np.stack([sign * pan * age, 0 * age], axis=1)
        elif motion in ("down", "up"):
            p = p + np.stack([0 * age, sign * pan * age], axis=1)
        elif motion in ("clockwise", "counterclockwise"):  # image rows grow downwards
            a = sign * roll * age
            p = np.stack(
                [p[:, 0] * np.cos(a) - p[:, 1] * np.sin(a), p[:, 0] * np.sin(a) + p[:, 1] * np.cos(a)], 1
            )
        else:
            p = p * np.exp(sign * zoom * age)[:, None]
        p = p + centre
        seen = ((p > -4) & (p < size + 4)).all(axis=1)
        frames[t] = _splat_dots(background, size, p[seen], radius[seen], colors[seen])
    return frames


def _splat_dots(background, size, centres, radius, colors) -> np.ndarray:
    """_paint_dots without wrapping, all dots at once: where dots overlap, the one that covers a
    pixel most shows (not the last drawn), which is the same picture but for the order of overlaps."""
    box = int(np.ceil(radius.max() if len(radius) else 0)) * 2 + 3
    offsets = np.arange(box)
    cols = np.floor(centres[:, :1] - box / 2).astype(int) + offsets  # (n, box)
    rows = np.floor(centres[:, 1:] - box / 2).astype(int) + offsets
    dist = np.hypot(
        cols[:, None, :] + 0.5 - centres[:, None, :1], rows[:, :, None] + 0.5 - centres[:, None, 1:]
    )
    cover = np.clip(radius[:, None, None] + 0.5 - dist, 0, 1).ravel()
    rr = np.broadcast_to(rows[:, :, None], dist.shape).ravel()
    cc = np.broadcast_to(cols[:, None, :], dist.shape).ravel()
    dot = np.broadcast_to(np.arange(len(radius))[:, None, None], dist.shape).ravel()
    keep = (cover > 0) & (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
    order = np.argsort(cover[keep], kind="stable")  # ascending: the largest cover is written last
    rr, cc, dot, cover = rr[keep][order], cc[keep][order], dot[keep][order], cover[keep][order]
    alpha = np.zeros((size, size, 1))
    color = np.zeros((size, size, 3))
    alpha[rr, cc, 0] = cover
    color[rr, cc] = colors[dot]
    frame = np.broadcast_to(background, (size, size, 3)) * (1 - alpha) + color * alpha
    return (frame * 255).astype(np.uint8)
