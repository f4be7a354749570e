"""Hugging Face transformers' VideoMAE: key mapping to our (the original's) names, and configs."""

import re

import torch

from videomae.checkpoints.spec import NUMERICS, mlp_ratio
from videomae.checkpoints.spec_check import MAX_HIDDEN, check_spec
from videomae.models.videomae import as_pair
from videomae.utils.errors import CheckpointError

# transformers builds decoder.norm and fc_norm as nn.LayerNorm(dim): eps is fixed at torch's 1e-5.
HF_HEAD_NORM_EPS = 1e-5
ARCHITECTURES = {"pretrain": "VideoMAEForPreTraining", "classification": "VideoMAEForVideoClassification"}
# Where our export keeps the exact spec inside config.json (transformers keeps unknown keys).
SPEC_KEY = "videomae_framework"

# (HF sub-key inside a layer, our sub-key inside a block)
_LAYER_KEYS = [
    ("attention.output.dense.", "attn.proj."),
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
]
_QKV = "attention.attention."
_HF_LAYER = re.compile(r"^(videomae\.encoder\.layer|decoder\.decoder_layers)\.(\d+)\.(.*)$")
_OUR_BLOCK = re.compile(r"^(encoder|decoder)\.blocks\.(\d+)\.(.*)$")
_TOP_LEVEL = [
    ("videomae.embeddings.patch_embeddings.projection.", "encoder.patch_embed.proj."),
    ("videomae.layernorm.", "encoder.norm."),
    ("fc_norm.", "fc_norm."),
    ("classifier.", "head."),
]


def hf_to_ours(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a transformers VideoMAE state dict to ours; q/k/v are fused into qkv."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        layer = _HF_LAYER.match(key)
        if layer:
            stack, index, rest = layer.groups()
            prefix = f"{'encoder' if stack.startswith('videomae') else 'decoder'}.blocks.{index}."
            if rest.startswith(_QKV):
                name = rest[len(_QKV) :]
                name = {"q_bias": "query.bias", "v_bias": "value.bias"}.get(name, name)
                qkv.setdefault(prefix, {})[name] = value
                continue
            for hf, ours in _LAYER_KEYS:
                if rest.startswith(hf):
                    out[prefix + ours + rest[len(hf) :]] = value
                    break
            else:
                out[key] = value
            continue
        for hf, ours in _TOP_LEVEL:
            if key.startswith(hf):
                out[ours + key[len(hf) :]] = value
                break
        else:
            out[key.removeprefix("videomae.")] = value
    for prefix, parts in qkv.items():
        try:
            weights = [parts.pop(f"{n}.weight") for n in ("query", "key", "value")]
        except KeyError as err:
            raise KeyError(f"incomplete attention weights under {prefix}: missing {err}") from None
        out[prefix + "attn.qkv.weight"] = torch.cat(weights, dim=0)
        if "query.bias" in parts:
            out[prefix + "attn.q_bias"] = parts.pop("query.bias")
        if "value.bias" in parts:
            out[prefix + "attn.v_bias"] = parts.pop("value.bias")
        for name, value in parts.items():
            out[f"{prefix}attn.hf.{name}"] = value  # left over: reported as unexpected
    return out


def ours_to_hf(state_dict: dict[str, torch.Tensor], on_disk: bool = False) -> dict[str, torch.Tensor]:
    """Our state dict in transformers' names (q/k/v split).

    q/v biases are `query.bias`/`value.bias` as transformers 5 holds them in memory, or with
    `on_disk` the `q_bias`/`v_bias` that its save_pretrained writes and transformers 4 expects.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        block = _OUR_BLOCK.match(key)
        if block:
            stack, index, rest = block.groups()
            prefix = (
                f"{'videomae.encoder.layer' if stack == 'encoder' else 'decoder.decoder_layers'}.{index}."
            )
            if rest == "attn.qkv.weight":
                for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}{_QKV}{name}.weight"] = part.contiguous()
            elif rest in ("attn.q_bias", "attn.v_bias"):
                if on_disk:
                    out[f"{prefix}{_QKV}{rest.removeprefix('attn.')}"] = value
                else:
                    out[f"{prefix}{_QKV}{'query' if rest == 'attn.q_bias' else 'value'}.bias"] = value
            else:
                for hf, ours in _LAYER_KEYS:
                    if rest.startswith(ours):
                        out[prefix + hf + rest[len(ours) :]] = value
                        break
                else:
                    raise KeyError(f"no transformers name for {key}")
            continue
        for hf, ours in _TOP_LEVEL:
            if key.startswith(ours):
                out[hf + key[len(ours) :]] = value
                break
        else:
            out[key] = value
    return out


def hf_config(spec: dict, dtype: torch.dtype = torch.float32) -> dict:
    """config.json content for a spec, loadable by transformers' VideoMAE classes.

    Written by hand so that exporting does not need transformers installed. The spec itself is
    stored under SPEC_KEY so that this framework rebuilds the model exactly.
    """
    k = spec["kwargs"]
    if k.get("init_values", 0) > 0:
        raise CheckpointError(
            "the model uses layer scale (init_values > 0), which transformers' VideoMAE cannot express; "
            "export to the original layout or ours instead"
        )
    task = spec["task"]
    dim, ratio = k["embed_dim"], k["mlp_ratio"]
    config = {
        "model_type": "videomae",
        "architectures": [ARCHITECTURES[task]],
        "dtype": str(dtype).removeprefix("torch."),
        "image_size": k["img_size"],
        "patch_size": k["patch_size"],
        "num_channels": k.get("in_chans", 3),
        "num_frames": k["num_frames"],
        "tubelet_size": k["tubelet_size"],
        "hidden_size": dim,
        "num_hidden_layers": k["depth"],
        "num_attention_heads": k["num_heads"],
        "intermediate_size": int(dim * ratio),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": spec.get("norm_eps", NUMERICS["norm_eps"]),
        "qv_bias": k.get("qkv_bias", True),
        # Pre-training: mean pooling off means "keep the final encoder norm" in transformers.
        "use_mean_pooling": task == "classification" or not spec.get("encoder_norm", True),
        "norm_pix_loss": k.get("norm_pix_loss", True),
        SPEC_KEY: spec,
    }
    if task == "pretrain":
        ddim = k["decoder_embed_dim"]
        config.update(
            decoder_hidden_size=ddim,
            decoder_num_hidden_layers=k["decoder_depth"],
            decoder_num_attention_heads=k["decoder_num_heads"],
            decoder_intermediate_size=int(ddim * (k.get("decoder_mlp_ratio") or ratio)),
        )
    else:
        labels = spec.get("labels") or [f"LABEL_{i}" for i in range(k["num_classes"])]
        config["id2label"] = {str(i): name for i, name in enumerate(labels)}
        config["label2id"] = {name: i for i, name in enumerate(labels)}
    return config


def spec_from_hf_config(config: dict, task: str) -> tuple[dict, dict[str, str]]:
    """The spec of a transformers VideoMAE config; `task` comes from the weights when unsure.

    Our exports carry the exact spec under SPEC_KEY; it is used while it still agrees with the
    transformers fields (the file may have been edited or re-saved with other labels since).
    Otherwise the spec reproduces transformers' numerics (its eps values).
    """
    archs = config.get("architectures") or []
    arch = " ".join(map(str, archs)) if isinstance(archs, list) else str(archs)
    task = "classification" if "Classification" in arch else "pretrain" if "PreTraining" in arch else task
    problems = _unsupported(config, task)
    if problems:
        raise CheckpointError("transformers config cannot be represented: " + "; ".join(problems))
    spec = check_spec(_spec_from_fields(config, task), "")
    stored = config.get(SPEC_KEY)
    if stored:
        stored = check_spec(stored, SPEC_KEY, complete=True)
    if stored and _same_model(stored, spec):
        if "labels" in spec:  # class names are edited in config.json: it has the last word
            stored = {**stored, "labels": spec["labels"]}
        return stored, {}
    notes = {
        "numerics": f"transformers numerics kept: LayerNorm eps {spec['norm_eps']:g} in blocks, "
        f"{HF_HEAD_NORM_EPS:g} in {'decoder.norm' if task == 'pretrain' else 'fc_norm'} (the original: 1e-6)"
    }
    if stored:
        notes["stale"] = f"config.json no longer matches its {SPEC_KEY} record: built from its other fields"
    return spec, notes


def _unsupported(config: dict, task: str) -> list[str]:
    """What a transformers config asks for that the models here cannot do."""
    get = config.get
    problems = []
    if get("hidden_act", "gelu") != "gelu":
        problems.append(f"hidden_act={get('hidden_act', None)!r} (only exact 'gelu' exists here)")
    patch = get("patch_size", 16)
    if isinstance(patch, list | tuple) and len(set(map(str, patch))) != 1:
        problems.append(f"patch_size={patch} (only square patches)")
    if task == "classification" and not get("use_mean_pooling", True):
        problems.append("use_mean_pooling=false (first-token pooling; only mean pooling exists here)")
    return problems


def _spec_from_fields(config: dict, task: str) -> dict:
    """The spec that transformers' own config fields describe, with transformers' numerics."""
    get = config.get
    patch = get("patch_size", 16)
    if isinstance(patch, list | tuple) and patch:
        patch = patch[0]
    dim, hidden = _width(config, "hidden_size", 768), _width(config, "intermediate_size", 3072)
    ratio = mlp_ratio(hidden, dim)
    ddim = _width(config, "decoder_hidden_size", 384)
    dhidden = _width(config, "decoder_intermediate_size", 1536)
    size = get("image_size", 224)
    kwargs = dict(
        img_size=list(size) if isinstance(size, list | tuple) else size,
        num_frames=get("num_frames", 16),
        patch_size=patch,
        tubelet_size=get("tubelet_size", 2),
        embed_dim=dim,
        depth=get("num_hidden_layers", 12),
        num_heads=get("num_attention_heads", 12),
        mlp_ratio=ratio,
        qkv_bias=get("qv_bias", get("qkv_bias", True)),
    )
    if get("num_channels", 3) != 3:  # checked with the other sizes (spec_check.MAX_CHANNELS)
        kwargs["in_chans"] = get("num_channels", 3)
    spec = {
        "task": task,
        "kwargs": kwargs,
        "norm_eps": get("layer_norm_eps", 1e-12),
        "head_norm_eps": HF_HEAD_NORM_EPS,
        "encoder_norm": not get("use_mean_pooling", True),
    }
    if task == "pretrain":
        kwargs.update(
            decoder_embed_dim=ddim,
            decoder_depth=get("decoder_num_hidden_layers", 4),
            decoder_num_heads=get("decoder_num_attention_heads", 6),
            norm_pix_loss=get("norm_pix_loss", True),
        )
        if int(ddim * ratio) != dhidden:
            kwargs["decoder_mlp_ratio"] = mlp_ratio(dhidden, ddim)
    else:
        id2label = get("id2label", None) or {}
        if not isinstance(id2label, dict) or not all(str(k).isdigit() for k in id2label):
            raise CheckpointError(f"id2label={str(id2label)[:80]!r}: expected an object of index: name")
        kwargs["num_classes"] = len(id2label) or get("num_labels", 2)
        if id2label:
            spec["labels"] = [str(id2label[k]) for k in sorted(id2label, key=int)]
        spec["encoder_norm"] = True
    return spec


def _width(config: dict, key: str, default: int) -> int:
    """A width field, checked before it is divided by (the rest is checked with the whole spec)."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HIDDEN:
        raise CheckpointError(f"{key}={value!r}: expected an integer from 1 to {MAX_HIDDEN}")
    return value


def _same_model(stored: dict, fields: dict) -> bool:
    """Whether our stored spec describes the model that config.json's transformers fields describe."""
    a, b = stored["kwargs"], fields["kwargs"]

    def mlp_sizes(k):
        decoder = k.get("decoder_embed_dim", 0) * (k.get("decoder_mlp_ratio") or k["mlp_ratio"])
        return int(k["embed_dim"] * k["mlp_ratio"]), int(decoder)

    same = set(b) - {"img_size", "mlp_ratio", "decoder_mlp_ratio"}
    return (
        stored["task"] == fields["task"]
        and all(a.get(key) == b[key] for key in same)
        and as_pair(a["img_size"]) == as_pair(b["img_size"])
        and mlp_sizes(a) == mlp_sizes(b)
        and stored.get("norm_eps", NUMERICS["norm_eps"]) == fields["norm_eps"]
        and (fields["task"] == "classification" or stored.get("encoder_norm", True) == fields["encoder_norm"])
    )
