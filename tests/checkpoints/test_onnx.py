"""ONNX export: opset and dynamic batch, outputs equal to PyTorch when onnxruntime runs the file in
a separate process, the pre-training model refused in one line."""

import json

import numpy as np
import onnx
import pytest
import torch
from helpers import run_script, tiny_model

from videomae import export_ours
from videomae.checkpoints.onnx import ATOL, OPSET, RTOL, check_onnx, export_onnx, run_onnxruntime
from videomae.eval.features import pooled_features
from videomae.utils.errors import ConfigError


def classifier():
    torch.manual_seed(0)
    model = tiny_model(5, patch_size=8).eval()
    with torch.no_grad():  # a head that is not near zero, so that a wrong logit shows
        model.head.weight.normal_(0, 1)
    return model


def test_classifier_onnx_matches_pytorch_at_any_batch_size(tmp_path):
    model = classifier()
    path = str(tmp_path / "c.onnx")
    info = export_onnx(model, path)
    assert info["task"] == "classification" and info["opset"] == OPSET == 18
    proto = onnx.load(path)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    assert json.loads({p.key: p.value for p in proto.metadata_props}["videomae"])["outputs"] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic: dynamic batch
    assert check_onnx(path, model, "classification", batch_sizes=(1, 3)) < ATOL
    x = torch.randn(5, 3, 4, 32, 32)
    (logits,) = run_onnxruntime(path, x.numpy())  # another process: onnxruntime only
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), atol=ATOL, rtol=RTOL)


def test_features_of_any_checkpoint_are_the_pooled_features(tmp_path):
    torch.manual_seed(0)
    model = tiny_model(patch_size=8).eval()
    path = str(tmp_path / "f.onnx")
    assert export_onnx(model, path, "features")["outputs"] == ["features", "tokens"]
    x = torch.randn(2, 3, 4, 32, 32)
    features, tokens = run_onnxruntime(path, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(features, pooled_features(model, x).numpy(), atol=ATOL, rtol=RTOL)
        np.testing.assert_allclose(tokens, model.encoder(x).numpy(), atol=ATOL, rtol=RTOL)


def test_a_wrong_file_fails_the_check(tmp_path):
    model = classifier()
    path = str(tmp_path / "c.onnx")
    export_onnx(model, path)
    with torch.no_grad():
        model.head.bias.add_(1e-2)  # the PyTorch side now differs by more than the tolerance
    with pytest.raises(RuntimeError, match="output logits at batch 1 differs from PyTorch"):
        check_onnx(path, model, "classification")


def test_the_pretraining_model_is_refused_in_one_line(tmp_path):
    model = tiny_model(patch_size=8)
    with pytest.raises(ConfigError, match="pre-training model is not exportable") as err:
        export_onnx(model, str(tmp_path / "p.onnx"))
    assert "\n" not in str(err.value) and "--task features" in str(err.value)
    with pytest.raises(ConfigError, match="no classifier head"):
        export_onnx(model, str(tmp_path / "p.onnx"), "classification")


@pytest.mark.slow
def test_convert_to_onnx_and_the_benchmark(tmp_path):
    src = export_ours(classifier(), tmp_path / "c.safetensors")
    result = run_script("convert.py", str(src), str(tmp_path / "c.onnx"), "--to", "onnx")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "opset 18" in result.stdout and "onnxruntime (CPU, a separate process)" in result.stdout
    pretrain = tiny_model(patch_size=8)
    pre = export_ours(pretrain, tmp_path / "p.safetensors")
    refused = run_script("convert.py", str(pre), str(tmp_path / "p.onnx"), "--to", "onnx")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    bench = run_script("benchmark.py", "onnx", str(src), "--onnx", str(tmp_path / "c.onnx"), "--steps", "2",
                       "--warmup", "1", "--batch", "1", "2")  # fmt: skip
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "torch / onnxruntime" in bench.stdout
