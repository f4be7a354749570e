"""Reading any supported checkpoint into our key names, with the layout detected from its contents.

Layouts: our Lightning checkpoints (`state_dict` with `model.` prefixes) and exported weights; the
original MCG-NJU code (weights under `model` or `module`; pre-train names equal ours, fine-tuned
names lack the `encoder.` prefix; `_orig_mod.` from torch.compile, `module.`/`backbone.` from
wrappers); Hugging Face transformers (a model directory, or its .safetensors/.bin file).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videomae.checkpoints.hf import hf_to_ours, spec_from_hf_config
from videomae.checkpoints.io import read_tensors
from videomae.checkpoints.spec import infer_spec
from videomae.checkpoints.spec_check import check_against_weights, check_spec
from videomae.models.factory import model_config
from videomae.utils.errors import CheckpointError

HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HF_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# Metadata key under which our safetensors exports keep their spec.
SPEC_METADATA = "videomae"
POSITION_REASON = "position table: fixed sinusoid, rebuilt for the model's frames and resolution"


@dataclass
class Checkpoint:
    """A checkpoint's weights in our names, and what it says about its model."""

    path: str
    layout: str  # lightning | ours | original | original-finetuned | hf
    state: dict[str, torch.Tensor]
    spec: dict | None = None  # the model it describes, when the file records it
    ignored: dict[str, str] = field(default_factory=dict)  # checkpoint key -> why it is not used
    spec_notes: dict[str, str] = field(default_factory=dict)  # how the spec was read, by argument
    extra: Mapping[str, Any] = field(default_factory=dict)  # the original's saved args, when present

    @property
    def description(self) -> str:
        return {
            "lightning": "our Lightning checkpoint",
            "ours": "our exported weights",
            "original": "original MCG-NJU",
            "original-finetuned": "original MCG-NJU fine-tuned",
            "hf": "Hugging Face transformers",
        }[self.layout]


def _read_json(path: Path) -> dict:
    """A model directory's JSON file; a broken one is a CheckpointError naming it."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found a {type(obj).__name__}")
    return obj


def read_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    hf_config: dict | None  # a transformers config.json next to the weights, if any
    if path.is_dir():
        raw, hf_config = _read_hf_dir(path), _read_json(path / "config.json")
        return _from_state(path, raw, container="hf-dir", hf_config=hf_config)
    obj, metadata = read_tensors(path)
    if SPEC_METADATA in metadata:
        try:
            spec = json.loads(metadata[SPEC_METADATA])
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: the {SPEC_METADATA!r} metadata is not JSON ({err})") from None
        where = f"{path}: {SPEC_METADATA!r} metadata"
        return Checkpoint(str(path), "ours", dict(obj), spec=check_spec(spec, where, complete=True))
    hf_config = None
    if (path.parent / "config.json").is_file():
        hf_config = _read_json(path.parent / "config.json")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of weights")
    if isinstance(obj.get("state_dict"), dict) and (
        "hyper_parameters" in obj or "pytorch-lightning_version" in obj
    ):
        state = {k.removeprefix("model."): v for k, v in obj["state_dict"].items()}
        ckpt = _from_state(path, state, container="lightning")
        hp = obj.get("hyper_parameters")
        hp = hp if isinstance(hp, dict) else {}
        model = hp.get("model")
        if isinstance(model, dict) and "name" in model:
            try:
                kwargs = model_config(**model)
            except (TypeError, ValueError) as err:
                raise CheckpointError(f"{path}: hyper_parameters.model: {err}") from None
            task = "pretrain" if "encoder_to_decoder.weight" in ckpt.state else "classification"
            if task == "classification" and "head.weight" in ckpt.state:
                kwargs["num_classes"] = ckpt.state["head.weight"].shape[0]
            ckpt.spec = {"task": task, "kwargs": kwargs}
            classes = hp.get("classes")  # fine-tuning runs: dataset order
            if task == "classification" and isinstance(classes, list | tuple):
                if classes and len(classes) == kwargs.get("num_classes"):
                    ckpt.spec["labels"] = [str(name) for name in classes]
            ckpt.spec = check_spec(ckpt.spec, f"{path}: hyper_parameters.model")
        return ckpt
    for key in ("model", "module"):  # the original code's --model_key default: model|module
        if isinstance(obj.get(key), dict):
            args = obj.get("args")
            extra: Mapping[str, Any] = vars(args) if args is not None and hasattr(args, "__dict__") else {}
            ckpt = _from_state(path, obj[key], container="original", hf_config=hf_config)
            ckpt.extra = extra
            return ckpt
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _from_state(path, obj, container="plain", hf_config=hf_config)
    raise CheckpointError(
        f"{path}: no weights found; top-level keys are {sorted(map(str, obj))[:12]}, expected a state dict "
        "or one under 'state_dict' (Lightning), 'model' or 'module' (original code)"
    )


def _read_hf_dir(path: Path) -> dict[str, torch.Tensor]:
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"{path}: a directory must be a Hugging Face model directory with config.json; found "
            f"{sorted(p.name for p in path.iterdir())[:12]}"
        )
    for name in HF_WEIGHTS:
        if (path / name).is_file():
            return read_tensors(path / name)[0]
    for name in HF_INDEXES:
        if (path / name).is_file():
            weight_map = _read_json(path / name).get("weight_map")
            if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
                raise CheckpointError(f"{path / name}: no weight_map object of file names")
            shards = sorted(set(weight_map.values()))
            state = {}
            for shard in shards:
                state.update(read_tensors(path / shard)[0])
            return state
    raise CheckpointError(f"{path}: no weights ({', '.join(HF_WEIGHTS + HF_INDEXES)})")


def _strip(key: str) -> str:
    key = key.replace("_orig_mod.", "")  # torch.compile, on the model or on a submodule
    for prefix in ("module.", "backbone."):  # DDP/DeepSpeed wrappers; the original's backbone prefix
        key = key.removeprefix(prefix)
    return key


def _from_state(path: Path, raw: dict, container: str, hf_config: dict | None = None) -> Checkpoint:
    state = {_strip(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError(f"{path}: the state dict holds no tensors")
    if any(k.startswith(("embeddings.patch_embeddings.", "encoder.layer.")) for k in state):
        state = {f"videomae.{k}": v for k, v in state.items()}  # a bare VideoMAEModel
    if any(k.startswith(("videomae.", "decoder.decoder_layers.", "classifier.")) for k in state):
        layout = "hf"
        try:
            state = hf_to_ours(state)
        except KeyError as err:
            raise CheckpointError(f"{path}: {err.args[0]}") from None
    elif any(k.startswith(("blocks.", "patch_embed.")) for k in state):
        layout = "original-finetuned"
        state = {
            (f"encoder.{k}" if k.startswith(("patch_embed.", "blocks.", "norm.")) else k): v
            for k, v in state.items()
        }
    else:
        layout = {"lightning": "lightning", "plain": "ours"}.get(container, "original")
    if not any(k.startswith("encoder.") for k in state):
        raise CheckpointError(
            f"{path}: no VideoMAE encoder weights recognised; keys look like {sorted(state)[:8]}"
        )
    ckpt = Checkpoint(str(path), layout, state)
    for key in list(state):
        if key.split(".")[-1] in ("pos_embed", "position_embeddings"):
            del state[key]
            ckpt.ignored[key] = POSITION_REASON
    if layout == "hf":
        task = "classification" if "head.weight" in state and "mask_token" not in state else "pretrain"
        if hf_config is not None:
            try:
                ckpt.spec, ckpt.spec_notes = spec_from_hf_config(hf_config, task)
            except CheckpointError as err:
                raise CheckpointError(f"{path}: config.json: {err}") from None
    return ckpt


def checkpoint_spec(ckpt: Checkpoint) -> tuple[dict, dict[str, str]]:
    """The spec a checkpoint records, or one inferred from its weights (with notes on assumptions),
    checked against the weights' shapes: a model is built from it only when it fits the file."""
    try:
        if ckpt.spec is not None:
            spec, notes = ckpt.spec, ckpt.spec_notes
        else:
            spec, notes = infer_spec(ckpt.state, ckpt.extra)
        check_against_weights(check_spec(spec, ""), ckpt.state, "")
    except CheckpointError as err:
        raise CheckpointError(f"{ckpt.path}: {err}") from None
    return spec, notes
