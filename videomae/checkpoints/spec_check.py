"""Checking a spec read from a file before any model is built from it.

A spec's sizes decide how much memory building its model takes, and a file is data from anywhere:
one key `encoder.blocks.99999999.x` in a 6 KB file once asked for a model of that depth. So every
size is bounded, every value has its type, and the sizes are compared with the shapes of the
tensors the file actually holds, all before a single parameter is allocated. Each problem is a
CheckpointError of one line naming the file, the key, the value and what is allowed.
"""

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from videomae.utils.errors import CheckpointError

# Generous bounds: ten times beyond any published VideoMAE, far below what exhausts a machine.
MAX_DEPTH = 256
MAX_DIM = 16384
MAX_PATCH = 1024
MAX_FRAMES = 4096
MAX_SIDE = 16384
MAX_CLASSES = 1_000_000
MAX_CHANNELS = 64  # input channels (RGB 3, gray 1, multispectral a few dozen)
MAX_HIDDEN = 262_144  # an MLP's hidden width
MAX_POSITIONS = 1 << 20  # tokens of a clip: the fixed position table has one row each
MAX_TABLE = 1 << 28  # position-table elements (1 GiB in float32)
FRESH_PARAMETERS = 50_000_000  # what a model may build beyond 4x its file's weights (a new head)
TASK_NAMES = ("pretrain", "classification")
# Constructor arguments that are sizes (positive integers up to a bound), by task.
_SIZES = {
    "patch_size": MAX_PATCH,
    "tubelet_size": MAX_PATCH,
    "embed_dim": MAX_DIM,
    "depth": MAX_DEPTH,
    "num_heads": MAX_DIM,
    "num_frames": MAX_FRAMES,
}
_PRETRAIN_SIZES = {"decoder_embed_dim": MAX_DIM, "decoder_num_heads": MAX_DIM}
_BLOCK = re.compile(r"^(encoder|decoder)\.blocks\.([^.]+)\.")


def _fail(where: str, what: str) -> CheckpointError:
    return CheckpointError(f"{where}: {what}" if where else what)


def _int(where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"{key}={value!r}: expected an integer from {low} to {high}")
    return value


def _number(where: str, key: str, value: Any, low: float, high: float, open_low: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        bound = f"above {low:g}" if open_low else f"from {low:g}"
        raise _fail(where, f"{key}={value!r}: expected a number {bound} to {high:g}")
    return float(value)


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"{key}={value!r}: expected true or false")
    return value


def check_spec(spec: Any, where: str, complete: bool = False) -> dict:
    """`spec` as a model description with every value of its type and within bounds; raises else.
    `complete`: the spec must state every size (a recorded spec; others fall back on defaults)."""
    if not isinstance(spec, Mapping):
        raise _fail(where, f"the model description is a {type(spec).__name__}, expected an object")
    task = spec.get("task")
    if task not in TASK_NAMES:
        raise _fail(where, f"task={task!r}: expected one of {', '.join(TASK_NAMES)}")
    kwargs = spec.get("kwargs")
    if not isinstance(kwargs, Mapping):
        raise _fail(where, f"kwargs={kwargs!r}: expected an object of model arguments")
    sizes = {**_SIZES, **(_PRETRAIN_SIZES if task == "pretrain" else {})}
    missing = [key for key in (*sizes, "img_size", "mlp_ratio") if key not in kwargs]
    if complete and missing:
        raise _fail(where, f"kwargs has no {', '.join(missing)}: a model description states every size")
    for key, high in sizes.items():
        if key in kwargs:
            _int(where, f"kwargs.{key}", kwargs[key], 1, high)
    if task == "pretrain" and "decoder_depth" in kwargs:
        _int(where, "kwargs.decoder_depth", kwargs["decoder_depth"], 0, MAX_DEPTH)
    if "num_classes" in kwargs and task == "classification":
        _int(where, "kwargs.num_classes", kwargs["num_classes"], 1, MAX_CLASSES)
    for key in ("qkv_bias", "norm_pix_loss"):
        if key in kwargs:
            _bool(where, f"kwargs.{key}", kwargs[key])
    channels = (
        _int(where, "kwargs.in_chans", kwargs["in_chans"], 1, MAX_CHANNELS) if "in_chans" in kwargs else 3
    )
    for key in ("pixel_mean", "pixel_std"):
        values = kwargs.get(key)
        if values is None:
            continue
        if not isinstance(values, list | tuple) or len(values) != channels:
            raise _fail(
                where, f"kwargs.{key}={str(values)[:80]}: expected {channels} numbers (one per channel)"
            )
        for value in values:
            _number(
                where, f"kwargs.{key}", value, 0.0 if key == "pixel_std" else -1e6, 1e6, key == "pixel_std"
            )
    for key, top in (("drop_path_rate", 1.0), ("fc_drop_rate", 1.0), ("init_values", 1e6)):
        if key in kwargs:
            _number(where, f"kwargs.{key}", kwargs[key], 0.0, top)
    for key in ("norm_eps", "head_norm_eps"):
        if key in spec:
            _number(where, key, spec[key], 0.0, 1.0, open_low=True)
    if "encoder_norm" in spec:
        _bool(where, "encoder_norm", spec["encoder_norm"])
    labels = spec.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise _fail(where, f"labels={str(labels)[:80]!r}: expected a list of class names")
    _check_shapes(kwargs, task == "pretrain", where)
    return dict(spec)


def _side_pair(where: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return _int(where, "kwargs.img_size[0]", value[0], 1, MAX_SIDE), _int(
            where, "kwargs.img_size[1]", value[1], 1, MAX_SIDE
        )
    if isinstance(value, list | tuple):
        raise _fail(where, f"kwargs.img_size={value!r}: expected a size or [height, width]")
    side = _int(where, "kwargs.img_size", value, 1, MAX_SIDE)
    return side, side


def _check_shapes(kwargs: Mapping[str, Any], pretrain: bool, where: str) -> None:
    """The combinations: heads divide widths, hidden widths and the position table are bounded."""
    widths = [("embed_dim", 768, "num_heads", 12, "mlp_ratio")]
    if pretrain:
        widths.append(("decoder_embed_dim", 384, "decoder_num_heads", 6, "decoder_mlp_ratio"))
    for dim_key, dim, heads_key, heads, ratio_key in widths:
        dim, heads = kwargs.get(dim_key, dim), kwargs.get(heads_key, heads)
        if dim % heads:
            raise _fail(where, f"kwargs.{dim_key}={dim} is not divisible by kwargs.{heads_key}={heads}")
        ratio = kwargs.get(ratio_key)
        if ratio is None and (ratio_key == "decoder_mlp_ratio" or ratio_key not in kwargs):
            continue  # decoder_mlp_ratio None: the encoder's
        _number(where, f"kwargs.{ratio_key}", ratio, 0.0, MAX_HIDDEN, open_low=True)
        if not 1 <= int(dim * ratio) <= MAX_HIDDEN:
            raise _fail(
                where, f"kwargs.{ratio_key}={ratio!r}: MLP width {int(dim * ratio)} is not 1..{MAX_HIDDEN}"
            )
    if "img_size" not in kwargs:
        return
    height, width = _side_pair(where, kwargs["img_size"])
    patch, tubelet = kwargs.get("patch_size", 16), kwargs.get("tubelet_size", 2)
    frames = kwargs.get("num_frames", 16)
    if frames % tubelet or height % patch or width % patch:
        raise _fail(
            where,
            f"kwargs: {frames} frames at {height}x{width} px do not split into tubes of "
            f"{tubelet} frames x {patch}x{patch} px",
        )
    positions = frames // tubelet * (height // patch) * (width // patch)
    dim = max(kwargs.get("embed_dim", 768), kwargs.get("decoder_embed_dim", 384) if pretrain else 0)
    if positions > MAX_POSITIONS or positions * dim > MAX_TABLE:
        raise _fail(
            where,
            f"kwargs: {frames} frames at {height}x{width} px make {positions} tokens of width {dim}: "
            f"more than the {MAX_POSITIONS} tokens / {MAX_TABLE} position-table values allowed",
        )


def block_indices(state: Mapping[str, Any], stack: str, where: str) -> set[int]:
    """The block numbers of `stack` (encoder|decoder) that the weights hold."""
    found = set()
    for key in state:
        match = _BLOCK.match(key)
        if match and match.group(1) == stack:
            index = match.group(2)
            if not index.isdigit() or int(index) >= MAX_DEPTH:
                raise _fail(
                    where, f"weight {key}: block number {index!r} is not an integer below {MAX_DEPTH}"
                )
            found.add(int(index))
    return found


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...] | None:
    value = state.get(key)
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def check_against_weights(spec: dict, state: Mapping[str, torch.Tensor], where: str) -> None:
    """The sizes a (checked) spec states must be those of the tensors the file holds."""
    kwargs = spec["kwargs"]
    dim = kwargs.get("embed_dim", 768)

    def differs(key: str, stated: Any, weights: str, actual: Any) -> CheckpointError:
        return _fail(where, f"kwargs.{key}={stated!r} but the weights say {actual} ({weights})")

    patch_shape = _shape(state, "encoder.patch_embed.proj.weight")
    if patch_shape is None or len(patch_shape) != 5:
        raise _fail(where, f"encoder.patch_embed.proj.weight: expected a 5-d tensor, found {patch_shape}")
    stated = (dim, kwargs.get("tubelet_size", 2), kwargs.get("patch_size", 16))
    actual = (patch_shape[0], patch_shape[2], patch_shape[3])
    for key, value, found in zip(("embed_dim", "tubelet_size", "patch_size"), stated, actual, strict=True):
        if value != found:
            raise differs(key, value, "encoder.patch_embed.proj.weight", patch_shape)
    stacks = [("encoder", "depth", "embed_dim", "mlp_ratio")]
    if spec["task"] == "pretrain" and "encoder_to_decoder.weight" in state:
        ddim_shape = _shape(state, "encoder_to_decoder.weight")
        if ddim_shape != (kwargs.get("decoder_embed_dim", 384), dim):
            raise differs(
                "decoder_embed_dim", kwargs.get("decoder_embed_dim"), "encoder_to_decoder.weight", ddim_shape
            )
        stacks.append(("decoder", "decoder_depth", "decoder_embed_dim", "decoder_mlp_ratio"))
    for stack, depth_key, dim_key, ratio_key in stacks:
        blocks = block_indices(state, stack, where)
        depth = kwargs.get(depth_key, 12 if stack == "encoder" else 4)
        if blocks != set(range(depth)):
            listing = f"blocks {_ranges(sorted(blocks))}" if blocks else "no blocks"
            raise _fail(where, f"kwargs.{depth_key}={depth} but the weights hold {listing} of the {stack}")
        if not depth:
            continue
        width = kwargs.get(dim_key, 384)
        hidden = int(width * (kwargs.get(ratio_key) or kwargs.get("mlp_ratio", 4.0)))
        fc1 = _shape(state, f"{stack}.blocks.0.mlp.fc1.weight")
        if fc1 is not None and fc1 != (hidden, width):
            raise differs(ratio_key, kwargs.get(ratio_key), f"{stack}.blocks.0.mlp.fc1.weight", fc1)
    head = _shape(state, "head.weight")
    if spec["task"] == "classification" and head is not None and "num_classes" in kwargs:
        if head != (kwargs["num_classes"], dim):
            raise differs("num_classes", kwargs["num_classes"], "head.weight", head)
    # Parts the weights do not hold (a head to be trained) are still built: bound them by the rest.
    held = sum(v.numel() for v in state.values() if isinstance(v, torch.Tensor))
    wanted = _parameters(kwargs, spec["task"])
    if wanted > 4 * held + FRESH_PARAMETERS:
        raise _fail(
            where,
            f"the model described has {wanted / 1e6:.0f}M parameters, the weights only "
            f"{held / 1e6:.1f}M: the description does not fit the file",
        )


def _parameters(kwargs: Mapping[str, Any], task: str) -> int:
    """About how many parameters building the spec's model allocates (blocks, embedding, head)."""

    def blocks(depth: int, dim: int, ratio: float) -> int:
        return depth * (4 * dim * dim + 2 * dim * int(dim * ratio))

    dim, ratio = kwargs.get("embed_dim", 768), kwargs.get("mlp_ratio", 4.0)
    total = blocks(kwargs.get("depth", 12), dim, ratio)
    total += (
        dim * kwargs.get("in_chans", 3) * kwargs.get("tubelet_size", 2) * kwargs.get("patch_size", 16) ** 2
    )
    if task == "pretrain":
        ddim = kwargs.get("decoder_embed_dim", 384)
        total += blocks(kwargs.get("decoder_depth", 4), ddim, kwargs.get("decoder_mlp_ratio") or ratio)
    else:
        total += dim * kwargs.get("num_classes", 0)
    return total


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 7] -> '0-2, 7' (a crafted file's numbers stay short to print)."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")
