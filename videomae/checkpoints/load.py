"""`load_weights(model, path)` for every supported layout, and `model_from_checkpoint(path)`."""

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timm.models import adapt_input_conv
from torch import nn

from videomae.checkpoints.formats import Checkpoint, checkpoint_spec, read_checkpoint
from videomae.checkpoints.spec import NUMERICS, build_model, describe_model, task_of
from videomae.models.factory import VideoMAEModel
from videomae.models.videomae import as_pair
from videomae.utils.errors import CheckpointError

PATCH_WEIGHT = "encoder.patch_embed.proj.weight"

# Keys fall into three parts: the encoder, which every model needs, and two heads.
PRETRAIN_HEAD = "pre-training head"
CLASSIFIER_HEAD = "classifier head"
IGNORED_PART = {
    PRETRAIN_HEAD: "pre-training only (decoder, encoder_to_decoder, mask_token, final encoder norm)",
    CLASSIFIER_HEAD: "classifier only (fc_norm, head)",
}


def _part(key: str) -> str | None:
    if key.startswith(("encoder.norm.", "encoder_to_decoder.", "decoder.")) or key == "mask_token":
        return PRETRAIN_HEAD
    if key.startswith(("fc_norm.", "head.")):
        return CLASSIFIER_HEAD
    if key.startswith("encoder."):
        return "encoder"
    return None


@dataclass
class LoadReport:
    """What `load_weights` did: every model tensor is either loaded or kept (with the reason)."""

    path: str
    layout: str
    model: str
    loaded: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # model key -> why it kept its initial value
    ignored: dict[str, str] = field(default_factory=dict)  # checkpoint key -> why it was not used
    notes: list[str] = field(default_factory=list)
    labels: list[str] | None = None  # class names, when the checkpoint has them

    def summary(self) -> str:
        lines = [
            f"checkpoint: {self.path} ({self.layout})",
            f"loaded:     {len(self.loaded)} tensors into {self.model}",
        ]
        ignored = {k: r for k, r in self.ignored.items() if self.kept.get(k) != r}  # said once is enough
        for title, entries in (("kept at init", self.kept), ("ignored", ignored)):
            for reason, keys in _by_reason(entries).items():
                lines.append(f"{title}: {_compact(keys)}: {reason}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    __str__ = summary


def _by_reason(entries: dict[str, str]) -> dict[str, list[str]]:
    groups = defaultdict(list)
    for key, reason in entries.items():
        groups[reason].append(key)
    return groups


def _compact(keys: list[str]) -> str:
    """`decoder.* (24)` rather than 24 names, so a summary fits on a screen."""
    groups = defaultdict(list)
    for key in keys:
        parts = key.split(".")
        groups[".".join(parts[:2]) if parts[0] == "encoder" and len(parts) > 2 else parts[0]].append(key)
    return ", ".join(ks[0] if len(ks) == 1 else f"{prefix}.* ({len(ks)})" for prefix, ks in groups.items())


def _listing(title: str, rows: list[str], limit: int = 20) -> list[str]:
    if not rows:
        return []
    more = [f"    ... and {len(rows) - limit} more"] if len(rows) > limit else []
    return [f"  {title}:"] + [f"    {row}" for row in rows[:limit]] + more


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Load a checkpoint of any supported layout into a VideoMAEPretrain or VideoMAEClassifier.

    The encoder must match completely. Heads load when the checkpoint has them: a pre-training
    checkpoint gives a classifier its encoder (the head stays fresh), a classifier head of another
    class count is skipped. A head present in both must match, unless `strict=False` (then missing
    and unexpected keys are only reported). Shape mismatches always raise, listing every key.
    """
    return apply_checkpoint(model, read_checkpoint(path), strict)


def apply_checkpoint(model: nn.Module, ckpt: Checkpoint, strict: bool = True) -> LoadReport:
    task = task_of(model)
    target = {k: v.shape for k, v in model.state_dict().items()}
    report = LoadReport(ckpt.path, ckpt.description, type(model).__name__, ignored=dict(ckpt.ignored))
    labels = (ckpt.spec or {}).get("labels")
    if task == "classification" and labels and len(labels) == model.num_classes:
        report.labels = labels
    source = ckpt.state
    adapted = _adapt_channels(source, target)
    fresh: list[str] = []
    if adapted:
        # The decoder's head predicts pixels of the checkpoint's channel count: it starts fresh.
        fresh = [k for k in ("decoder.head.weight", "decoder.head.bias") if k in source and k in target]
        source = {k: v for k, v in source.items() if k not in fresh} | {PATCH_WEIGHT: adapted[0]}
        report.notes.append(adapted[1])
        report.kept.update(dict.fromkeys(fresh, "predicts pixels of the checkpoint's channel count"))
    model_parts = {_part(k) for k in target}
    missing, unexpected, shapes, take = [], [], [], {}
    for part in sorted(model_parts, key=str):
        in_model = [k for k in target if _part(k) == part]
        in_ckpt = [k for k in source if _part(k) == part]
        if part == PRETRAIN_HEAD and in_ckpt and all(k.startswith("encoder.norm.") for k in in_ckpt):
            # An encoder-only file with its final norm (a transformers VideoMAEModel): the norm
            # loads, the decoder has nothing to come from.
            fresh = [k for k in in_model if k not in source]
            report.kept.update(dict.fromkeys(fresh, "not in the checkpoint (initial values)"))
            in_model = [k for k in in_model if k in source]
        if not in_ckpt and part != "encoder":
            reason = (
                f"not in the checkpoint ({'fresh head' if part == CLASSIFIER_HEAD else 'initial values'})"
            )
            report.kept.update(dict.fromkeys(in_model, reason))
            continue
        missing += [k for k in in_model if k not in source]
        unexpected += [k for k in in_ckpt if k not in target]
        for key in in_model:
            if key in source and tuple(source[key].shape) != tuple(target[key]):
                if key in ("head.weight", "head.bias"):
                    reason = (
                        f"the checkpoint's head has {source[key].shape[0]} classes, the model "
                        f"{target[key][0]}: head kept fresh"
                    )
                    report.ignored[key] = report.kept[key] = reason
                    continue
                shapes.append(f"{key}: checkpoint {tuple(source[key].shape)} vs model {tuple(target[key])}")
            elif key in source:
                take[key] = source[key]
    if "head.weight" in report.kept and "head.bias" in take:  # never half a head
        report.kept["head.bias"] = report.kept["head.weight"]
        del take["head.bias"]
    for key in source:
        part = _part(key)
        if part not in model_parts and key not in report.ignored:
            if part is None:
                unexpected.append(key)
            else:
                report.ignored[key] = IGNORED_PART[part]
    missing = [k for k in missing if k not in fresh]
    if not strict:
        report.kept.update(dict.fromkeys(missing, "missing from the checkpoint (strict=False)"))
        report.ignored.update(dict.fromkeys(unexpected, "not in the model (strict=False)"))
        missing, unexpected = [], []
    if shapes or missing or unexpected:
        lines = [f"cannot load {ckpt.path} ({ckpt.description}) into {type(model).__name__}:"]
        lines += _listing("shape mismatch", shapes)
        lines += _listing("missing from the checkpoint", [f"{k} {tuple(target[k])}" for k in missing])
        lines += _listing("not in the model", [f"{k} {tuple(source[k].shape)}" for k in unexpected])
        if any(k.startswith("encoder.norm.") for k in missing) and ckpt.layout == "hf":
            lines.append(
                "  (a transformers model saved with use_mean_pooling=true has no final encoder norm: "
                "build the model with videomae.model_from_checkpoint)"
            )
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(take, strict=False)
    report.loaded = sorted(take)
    report.notes += _numerics_notes(model, task, ckpt)
    return report


def _adapt_channels(source: dict, target: dict) -> tuple[torch.Tensor, str] | None:
    """The patch embedding of another input channel count (RGB weights into a gray model), adapted
    as timm adapts a first convolution: summed for 1 channel, repeated and rescaled for more."""
    if PATCH_WEIGHT not in source or PATCH_WEIGHT not in target:
        return None
    weight, want = source[PATCH_WEIGHT], tuple(target[PATCH_WEIGHT])
    have = tuple(weight.shape)
    if len(have) != 5 or have == want or have[:1] + have[2:] != want[:1] + want[2:]:
        return None  # the same, or a difference other than the channels: the shape check reports it
    out, base, t, p, q = have
    flat = adapt_input_conv(want[1], weight.reshape(out, base, t * p, q), base_chans=base)
    how = "summed over channels" if want[1] == 1 else f"repeated and scaled by {base}/{want[1]}"
    note = f"patch embedding adapted from {base} to {want[1]} input channels (timm's adapt_input_conv: {how})"
    return flat.reshape(out, want[1], t, p, q), note


def _numerics_notes(model: nn.Module, task: str, ckpt: Checkpoint) -> list[str]:
    """Say so when the checkpoint was computed with other LayerNorm eps values or another input size."""
    if not ckpt.spec:
        return []
    spec, ours = {**NUMERICS, **ckpt.spec}, describe_model(model)
    notes = []
    eps = ("norm_eps", "head_norm_eps")
    if any(spec[k] != ours[k] for k in eps):
        notes.append(
            f"the checkpoint's model uses LayerNorm eps {spec['norm_eps']:g}/{spec['head_norm_eps']:g} "
            f"(blocks/{'decoder.norm' if task == 'pretrain' else 'fc_norm'}), this model "
            f"{ours['norm_eps']:g}/{ours['head_norm_eps']:g}: outputs differ slightly; "
            "videomae.model_from_checkpoint reproduces the checkpoint's numerics"
        )
    src, dst = spec["kwargs"], ours["kwargs"]
    if (src["num_frames"], as_pair(src["img_size"])) != (dst["num_frames"], as_pair(dst["img_size"])):
        notes.append(
            f"checkpoint made for {src.get('num_frames')} frames at {src.get('img_size')} px, model is "
            f"{dst['num_frames']} at {dst['img_size']}: position tables rebuilt"
        )
    return notes


def model_from_checkpoint(
    path: str | Path, strict: bool = True, **overrides
) -> tuple[VideoMAEModel, LoadReport]:
    """Build the model a checkpoint describes and load it: `(model, report)`.

    The description comes from the file (Lightning hyper-parameters, our export's spec, a
    transformers config.json) or, for original-layout files, from the weights' shapes. Overrides
    change constructor arguments, e.g. `num_frames=8`, or `task="classification", num_classes=101`
    to start fine-tuning from a pre-training checkpoint.
    """
    ckpt = read_checkpoint(path)
    spec, notes = checkpoint_spec(ckpt)
    model = build_model(spec, **overrides)
    report = apply_checkpoint(model, ckpt, strict)
    report.notes = [note for key, note in notes.items() if key not in overrides] + report.notes
    return model, report
