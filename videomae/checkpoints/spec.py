"""A model's description ("spec"): what a checkpoint records so that it can rebuild its own model.

    {"task": "pretrain" | "classification",
     "kwargs": constructor arguments of VideoMAEPretrain / VideoMAEClassifier,
     "norm_eps": LayerNorm eps of the blocks (and of encoder.norm),
     "head_norm_eps": LayerNorm eps of decoder.norm / fc_norm,
     "encoder_norm": whether the pre-training encoder ends with a LayerNorm,
     "labels": optional class names}

The eps values and `encoder_norm` are 1e-6 / 1e-6 / True for every model this framework builds
(the original's math); they differ only for models that reproduce a transformers checkpoint.
They are constructor arguments of the models, so `build_model` builds such a model directly.
"""

import inspect
import math
from collections.abc import Mapping
from typing import Any, cast

from timm.layers import DropPath
from torch import nn

from videomae.checkpoints.spec_check import block_indices, check_spec
from videomae.models.classifier import VideoMAEClassifier
from videomae.models.factory import MODEL_SIZES, VideoMAEModel
from videomae.models.layers import LAYER_NORM_EPS, Block
from videomae.models.videomae import VideoMAEPretrain
from videomae.utils.errors import CheckpointError
from videomae.utils.pixels import default_stats

TASKS: dict[str, type[VideoMAEModel]] = {"pretrain": VideoMAEPretrain, "classification": VideoMAEClassifier}
NUMERICS = {"norm_eps": LAYER_NORM_EPS, "head_norm_eps": LAYER_NORM_EPS, "encoder_norm": True}


def mlp_ratio(hidden: int, dim: int) -> float:
    """A ratio with int(dim * ratio) == hidden; hidden / dim alone can round one below."""
    ratio = hidden / dim
    while int(dim * ratio) < hidden:
        ratio = math.nextafter(ratio, math.inf)
    return ratio


def task_of(model: nn.Module) -> str:
    for task, cls in TASKS.items():
        if isinstance(model, cls):
            return task
    raise CheckpointError(
        f"{type(model).__name__} is not a VideoMAEPretrain or VideoMAEClassifier; "
        "build the model with videomae.create_pretrain_model or videomae.create_classifier"
    )


def describe_model(model: nn.Module) -> dict:
    """The spec of a built model, read from its modules (so it also covers hand-built models)."""
    task = task_of(model)
    assert isinstance(model, VideoMAEPretrain | VideoMAEClassifier)  # task_of refused any other model
    encoder = model.encoder
    embed = encoder.patch_embed
    t, h, w = encoder.grid
    height, width = h * embed.patch_size, w * embed.patch_size
    if not len(encoder.blocks):
        raise CheckpointError("a model without encoder blocks cannot be described")
    # nn.ModuleList indexes to nn.Module; make_blocks fills the encoder's with Blocks.
    first, last = cast(Block, encoder.blocks[0]), cast(Block, encoder.blocks[-1])
    kwargs: dict[str, Any] = dict(
        img_size=height if height == width else [height, width],
        num_frames=t * embed.tubelet_size,
        patch_size=embed.patch_size,
        tubelet_size=embed.tubelet_size,
        embed_dim=encoder.embed_dim,
        depth=len(encoder.blocks),
        num_heads=first.attn.num_heads,
        mlp_ratio=mlp_ratio(first.mlp.fc1.out_features, encoder.embed_dim),
        qkv_bias=first.attn.q_bias is not None,
        drop_path_rate=last.drop_path.drop_prob if isinstance(last.drop_path, DropPath) else 0.0,
        init_values=_layer_scale(first),
    )
    channels = embed.proj.in_channels
    if channels != 3:  # said only when not RGB, so that every RGB description stays as it was
        kwargs["in_chans"] = channels
    if (model.pixel_mean, model.pixel_std) != default_stats(channels):
        kwargs.update(pixel_mean=list(model.pixel_mean), pixel_std=list(model.pixel_std))
    spec: dict[str, Any] = {"task": task, "kwargs": kwargs, "norm_eps": first.norm1.eps}
    if isinstance(model, VideoMAEPretrain):  # task == "pretrain"
        decoder = model.decoder
        kwargs.update(
            decoder_embed_dim=model.mask_token.shape[-1],
            decoder_depth=len(decoder.blocks),
            decoder_num_heads=cast(Block, decoder.blocks[0]).attn.num_heads if len(decoder.blocks) else 1,
            norm_pix_loss=model.norm_pix_loss,
        )
        if len(decoder.blocks):
            hidden = cast(Block, decoder.blocks[0]).mlp.fc1.out_features
            if hidden != int(kwargs["decoder_embed_dim"] * kwargs["mlp_ratio"]):
                kwargs["decoder_mlp_ratio"] = mlp_ratio(hidden, kwargs["decoder_embed_dim"])
        spec.update(head_norm_eps=decoder.norm.eps, encoder_norm=not isinstance(encoder.norm, nn.Identity))
    else:
        kwargs.update(num_classes=model.num_classes, fc_drop_rate=model.fc_dropout.p)
        spec.update(head_norm_eps=model.fc_norm.eps, encoder_norm=True)
    return spec


def _layer_scale(block: Block) -> float:
    """Layer scale's init value matters only at initialisation; a positive value switches it on."""
    if block.gamma_1 is None:
        return 0.0
    return float(block.gamma_1.detach().abs().mean()) or 1e-5


def build_model(spec: dict, **overrides) -> VideoMAEModel:
    """Build the model a spec describes; `overrides` change constructor arguments (or `task`).

    Every value is checked (types, bounds) before anything is allocated."""
    spec = check_spec(spec, "model description")
    task = overrides.pop("task", None) or spec["task"]
    kwargs = {**spec["kwargs"], **overrides}
    check_spec({**spec, "task": task, "kwargs": kwargs}, "model arguments")
    cls = TASKS[task]
    if task == "classification" and "num_classes" not in kwargs:
        raise CheckpointError(
            "the checkpoint has no classifier head: pass num_classes= to build a classifier"
        )
    accepted = inspect.signature(cls).parameters
    # The spec's numerics are constructor arguments too, and win over `overrides` as they always have.
    numerics = {k: spec.get(k, default) for k, default in NUMERICS.items()}
    return cls(**{k: v for k, v in {**kwargs, **numerics}.items() if k in accepted})


def _heads(dim: int, key: str, model_name: str) -> int:
    """Head count for a width: the paper size named in the original's args or of that width, else dim/64."""
    sizes = sorted(MODEL_SIZES.items(), key=lambda item: item[0].split("_")[-1] not in model_name)
    width = "embed_dim" if key == "num_heads" else "decoder_embed_dim"
    for _, size in sizes:
        if size[width] == dim:
            return size[key]
    return max(1, dim // 64)


def _saved_arg(extra: Mapping[str, Any], key: str, default: int) -> int:
    """An integer from the original's saved args (checked for bounds with the rest of the spec)."""
    value = extra.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(f"the checkpoint's saved args: {key}={value!r}: expected an integer")
    return value


def infer_spec(state: dict, extra: Mapping[str, Any] | None = None) -> tuple[dict, dict[str, str]]:
    """A spec from weights alone (original-layout files), and what had to be assumed, by argument.

    Head counts are not stored in weights: they come from the paper's size with that width.
    Frames and resolution are not either: `extra` (the original's saved args) or 16 x 224.
    """
    extra = extra or {}
    # Block numbers are bounded here; that they run 0..depth-1 is checked against the weights
    # before the model is built.
    blocks = block_indices(state, "encoder", "")
    try:
        dim, _, tubelet, patch, _ = state["encoder.patch_embed.proj.weight"].shape
        depth = 1 + max(blocks)
        fc1 = state["encoder.blocks.0.mlp.fc1.weight"].shape[0]
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"cannot tell the model's size from the weights (no {err})") from None
    name = str(extra.get("model", ""))
    kwargs = dict(
        img_size=_saved_arg(extra, "input_size", 224),
        num_frames=_saved_arg(extra, "num_frames", 16),
        patch_size=int(patch),
        tubelet_size=int(tubelet),
        embed_dim=int(dim),
        depth=depth,
        num_heads=_heads(dim, "num_heads", name),
        mlp_ratio=mlp_ratio(fc1, dim),
        qkv_bias="encoder.blocks.0.attn.q_bias" in state,
        init_values=0.1 if "encoder.blocks.0.gamma_1" in state else 0.0,
    )
    channels = int(state["encoder.patch_embed.proj.weight"].shape[1])
    if channels != 3:
        kwargs["in_chans"] = channels
    assumed = {"num_heads": f"heads are not stored in weights: assumed num_heads={kwargs['num_heads']}"}
    if "num_frames" not in extra:
        assumed["num_frames"] = f"frame count not stored: assumed num_frames={kwargs['num_frames']}"
    if "input_size" not in extra:
        assumed["img_size"] = f"resolution not stored: assumed img_size={kwargs['img_size']}"
    if "encoder_to_decoder.weight" in state:
        ddim = state["encoder_to_decoder.weight"].shape[0]
        blocks = block_indices(state, "decoder", "")
        kwargs.update(
            decoder_embed_dim=int(ddim),
            decoder_depth=1 + max(blocks) if blocks else 0,
            decoder_num_heads=_heads(ddim, "decoder_num_heads", name),
        )
        assumed["decoder_num_heads"] = f"assumed decoder_num_heads={kwargs['decoder_num_heads']}"
        if blocks:
            hidden = state["decoder.blocks.0.mlp.fc1.weight"].shape[0]
            if hidden != int(ddim * kwargs["mlp_ratio"]):
                kwargs["decoder_mlp_ratio"] = mlp_ratio(hidden, ddim)
        return {"task": "pretrain", "kwargs": kwargs, **NUMERICS}, assumed
    if "head.weight" in state:
        kwargs["num_classes"] = int(state["head.weight"].shape[0])
    return {"task": "classification", "kwargs": kwargs, **NUMERICS}, assumed
