"""Key mapping between Hugging Face transformers' VideoMAE and our (the original's) names."""

import re

import torch

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


def ours_to_hf(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict in transformers' names (q/k/v split, q/v biases as query/value bias)."""
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
                name = "query" if rest == "attn.q_bias" else "value"
                out[f"{prefix}{_QKV}{name}.bias"] = value
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
