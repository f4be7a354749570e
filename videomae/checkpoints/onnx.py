"""ONNX export of the encoder: `classification` (videos -> logits, a fine-tuned classifier) or
`features` (videos -> the pooled feature (B, D) and the tokens (B, N, D), any checkpoint).

Exported with torch's `torch.export`-based exporter (`torch.onnx.export(dynamo=True)`, which needs
`onnxscript`) at ONNX opset 18, with a dynamic batch dimension; frames and input size are fixed
at the model's. Input `videos`: float32 (B, 3, T, H, W), ImageNet-normalised, as the PyTorch
model takes it. The pre-training model is refused: its encoder keeps a data-dependent number of
tokens (the mask), which ONNX's static graphs do not express.

`run_onnxruntime` runs an exported file in a separate Python process (onnxruntime only, no torch
model in it), as a deployment would; `check_onnx` compares that with PyTorch.
"""

import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

from videomae.models.classifier import VideoMAEClassifier
from videomae.models.factory import VideoMAEModel
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import IMAGENET_MEAN, IMAGENET_STD

OPSET = 18
TASKS = ("classification", "features")
# onnxruntime vs PyTorch on CPU, float32: a different order of the same sums
ATOL, RTOL = 1e-4, 1e-3


class FeatureModel(nn.Module):
    """videos -> (pooled (B, D), tokens (B, N, D)); the pooled vector is what
    `videomae.eval.features.pooled_features` gives (tested)."""

    def __init__(self, model: VideoMAEModel):
        super().__init__()
        self.model = model

    def forward(self, videos: torch.Tensor):
        tokens = self.model.encoder(videos)
        return self.model.pool(tokens), tokens


def exportable(model: VideoMAEModel, task: str | None) -> tuple[nn.Module, str, list[str]]:
    """(module to export, task, output names); a one-line ConfigError for what cannot be exported."""
    is_classifier = isinstance(model, VideoMAEClassifier)
    task = task or ("classification" if is_classifier else None)
    if task == "pretrain" or task is None:
        raise ConfigError(
            "--to onnx: the pre-training model is not exportable (its encoder keeps a data-dependent "
            "number of visible tokens: the mask); export its encoder with --task features"
        )
    if task not in TASKS:
        raise ConfigError(f"--task {task}: --to onnx exports one of {', '.join(TASKS)}")
    if task == "classification":
        if not is_classifier:
            raise ConfigError(
                "--task classification: the checkpoint has no classifier head; fine-tune it, "
                "or use --task features"
            )
        return model, task, ["logits"]
    return FeatureModel(model), task, ["features", "tokens"]


def export_onnx(model: VideoMAEModel, path: str, task: str | None = None) -> dict:
    """Write `path` (.onnx); returns what it holds (task, opset, input shape, outputs)."""
    module, task, outputs = exportable(model, task)
    module = module.eval()
    t, h, w = model.grid
    enc = model.encoder
    shape = (2, 3, t * enc.tubelet_size, h * enc.patch_size, w * enc.patch_size)
    example = torch.randn(shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, (example,), input_names=["videos"], output_names=outputs,
            dynamic_shapes={"videos": {0: batch}}, opset_version=OPSET, dynamo=True, verbose=False,
        )  # fmt: skip
    info = {"task": task, "opset": OPSET, "input": ["batch", *shape[1:]], "outputs": outputs,
            "layout": "B, C, T, H, W", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}  # fmt: skip
    assert program is not None, "dynamo=True returns the ONNXProgram"
    onnx_model = program.model_proto
    for key, value in {"videomae": json.dumps(info)}.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(onnx_model.SerializeToString())
    return info


RUNNER = """
import sys, numpy as np, onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
outputs = session.run(None, {"videos": np.load(sys.argv[2])})
np.savez(sys.argv[3], *outputs)
"""


def run_onnxruntime(path: str, videos: np.ndarray) -> list[np.ndarray]:
    """The outputs of `path` on `videos`, computed by onnxruntime in a separate process."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npz")
        np.save(inp, videos.astype(np.float32))
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, path, inp, out], capture_output=True, text=True
        )
        if result.returncode:
            raise RuntimeError(f"onnxruntime could not run {path}: {result.stderr.strip().splitlines()[-1]}")
        with np.load(out) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


@torch.no_grad()
def check_onnx(path: str, model: VideoMAEModel, task: str, batch_sizes=(1, 3), seed: int = 0) -> float:
    """Max |onnxruntime - PyTorch| over every output at each batch size; raises past the
    tolerance (ATOL + RTOL x |PyTorch|)."""
    module, _, names = exportable(model, task)
    module.eval()
    t, h, w = model.grid
    enc = model.encoder
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch in batch_sizes:
        x = torch.randn(
            batch, 3, t * enc.tubelet_size, h * enc.patch_size, w * enc.patch_size, generator=generator
        )
        expected = module(x)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        for name, got, want in zip(names, run_onnxruntime(path, x.numpy()), expected, strict=True):
            want = want.numpy()
            if got.shape != want.shape or not np.allclose(got, want, atol=ATOL, rtol=RTOL):
                diff = np.abs(got - want).max() if got.shape == want.shape else float("inf")
                raise RuntimeError(
                    f"{path}: output {name} at batch {batch} differs from PyTorch by {diff:.2e}"
                )
            worst = max(worst, float(np.abs(got - want).max()))
    return worst
