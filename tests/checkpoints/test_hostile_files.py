"""A checkpoint is data from anywhere: its sizes are checked before any model is built from it."""

import json
import os
import resource
import subprocess
import sys

import pytest
import torch
from helpers import REPO
from safetensors import safe_open
from safetensors.torch import save_file

from videomae import create_pretrain_model, export_ours, model_from_checkpoint
from videomae.utils.errors import CheckpointError

TINY = dict(
    num_frames=4, img_size=32, patch_size=16, embed_dim=32, depth=1, num_heads=2,
    decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2,
)  # fmt: skip


@pytest.fixture(autouse=True)
def memory_cap():
    """A bug here asks for terabytes: cap this process's address space meanwhile (soft limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (4 << 30), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def crafted(path, **extra):
    """A few KB of weights whose key names claim a huge model."""
    tensors = {
        "encoder.patch_embed.proj.weight": torch.zeros(8, 3, 2, 4, 4),
        "encoder.blocks.0.mlp.fc1.weight": torch.zeros(32, 8),
        **extra,
    }
    save_file(tensors, path)
    return path


def test_a_crafted_block_number_is_refused_before_anything_is_built(tmp_path):
    """One key `encoder.blocks.99999999.*` once built a model of that depth: under a memory cap
    convert.py now ends in one line, as fast as for any bad file."""
    path = crafted(tmp_path / "deep.safetensors", **{"encoder.blocks.99999999.norm1.weight": torch.zeros(8)})
    assert path.stat().st_size < 8000
    code = (  # the cap: what torch's import maps (address space, not memory) plus 2 GiB
        "import resource, sys, runpy, torch, videomae.checkpoints; "
        "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize() + (2 << 30); "
        "resource.setrlimit(resource.RLIMIT_AS, (size, size)); "
        "sys.argv = ['convert.py', *sys.argv[1:]]; "
        f"runpy.run_path({os.path.join(REPO, 'scripts', 'convert.py')!r}, run_name='__main__')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "out.safetensors"), "--to", "ours"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )  # fmt: skip
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == [
        f"error: {path}: weight encoder.blocks.99999999.norm1.weight: block number '99999999' is not "
        "an integer below 256"
    ]


def test_blocks_that_do_not_run_from_zero_are_refused(tmp_path):
    path = crafted(tmp_path / "gap.safetensors", **{"encoder.blocks.200.norm1.weight": torch.zeros(8)})
    with pytest.raises(
        CheckpointError, match=r"kwargs.depth=201 but the weights hold blocks 0, 200 of the encoder"
    ):
        model_from_checkpoint(path)


def _with_spec(tmp_path, name, change):
    """Our export with its spec metadata edited by `change(spec)` (returning a replacement or None)."""
    good = tmp_path / "good.safetensors"
    if not good.exists():
        export_ours(create_pretrain_model("vit_tiny", **TINY), good)
    with safe_open(good, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        spec = json.loads(f.metadata()["videomae"])
    replaced = change(spec)
    text = replaced if isinstance(replaced, str) else json.dumps(spec if replaced is None else replaced)
    save_file(tensors, tmp_path / name, metadata={"format": "pt", "videomae": text})
    return tmp_path / name


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["kwargs"].update(depth="1"), "kwargs.depth='1': expected an integer from 1 to 256"),
        (lambda s: s["kwargs"].update(num_heads=0), "kwargs.num_heads=0: expected an integer from 1 to"),
        (lambda s: s["kwargs"].update(patch_size=0), "kwargs.patch_size=0: expected an integer from 1 to"),
        (lambda s: s["kwargs"].update(mlp_ratio=0), "kwargs.mlp_ratio=0: expected a number above 0"),
        (
            lambda s: s["kwargs"].update(num_heads=3),
            "kwargs.embed_dim=32 is not divisible by kwargs.num_heads=3",
        ),
        (lambda s: s["kwargs"].pop("embed_dim") and None, "kwargs has no embed_dim"),
        (lambda s: {"task": "pretrain"}, "kwargs=None: expected an object of model arguments"),
        (lambda s: s.update(task=None), "task=None: expected one of pretrain, classification"),
        (lambda s: s.update(norm_eps="x"), "norm_eps='x': expected a number above 0"),
        (lambda s: [1, 2], "the model description is a list, expected an object"),
        (lambda s: "{nope", "the 'videomae' metadata is not JSON"),
        (lambda s: s["kwargs"].update(img_size=16384), "2097152 tokens of width 32: more than"),
        (
            lambda s: s["kwargs"].update(depth=99),
            "kwargs.depth=99 but the weights hold blocks 0 of the encoder",
        ),
        (lambda s: s["kwargs"].update(embed_dim=64, num_heads=2), "kwargs.embed_dim=64 but the weights say"),
        (
            lambda s: s["kwargs"].update(decoder_depth=200),
            "kwargs.decoder_depth=200 but the weights hold blocks 0",
        ),
        (lambda s: s["kwargs"].update(mlp_ratio=8.0), "kwargs.mlp_ratio=8.0 but the weights say (128, 32)"),
    ],
)
def test_bad_spec_metadata_is_one_line(tmp_path, capsys, change, message):
    import runpy

    path = _with_spec(tmp_path, "bad.safetensors", change)
    convert = runpy.run_path(os.path.join(REPO, "scripts", "convert.py"))
    assert convert["main"]([str(path), str(tmp_path / "out.safetensors"), "--to", "ours"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {path}: "), err
    assert message in err


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hidden_size", 0, "hidden_size=0: expected an integer from 1"),
        ("intermediate_size", "x", "intermediate_size='x': expected an integer"),
        ("num_hidden_layers", 99999999, "kwargs.depth=99999999: expected an integer from 1 to 256"),
        ("num_attention_heads", None, "kwargs.num_heads=None"),
        ("id2label", [1], "id2label='[1]': expected an object"),
        ("architectures", 5, "kwargs.depth=7 but the weights hold blocks 0-1 of the encoder"),
    ],
)
def test_bad_transformers_config_is_one_line(tmp_path, field, value, message):
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    config = VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, id2label={0: "a", 1: "b"},
    )  # fmt: skip
    VideoMAEForVideoClassification(config).save_pretrained(tmp_path / "hf")
    data = json.loads((tmp_path / "hf" / "config.json").read_text())
    data[field] = value
    if field == "architectures":
        data["num_hidden_layers"] = 7  # more layers than the weights hold
    (tmp_path / "hf" / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError) as err:
        model_from_checkpoint(tmp_path / "hf")
    assert message in str(err.value) and str(tmp_path / "hf") in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_are_bounded_too(tmp_path):
    path = tmp_path / "m.safetensors"
    export_ours(create_pretrain_model("vit_tiny", **TINY), path)
    with pytest.raises(CheckpointError, match="kwargs.depth=100000: expected an integer from 1 to 256"):
        model_from_checkpoint(path, depth=100000)


@pytest.mark.parametrize("value", [None, "x", 0, -1, 10**9, [[1]], float("nan"), True])
def test_any_bad_value_in_any_spec_field_is_a_checkpoint_error(tmp_path, value):
    """Every field of our spec metadata, and every transformers config.json field, set to a bad
    value: a CheckpointError (one message, no traceback) or a model, nothing else."""

    def attempt(path):
        try:
            model_from_checkpoint(path)
        except CheckpointError:
            pass

    good = _with_spec(tmp_path, "good2.safetensors", lambda s: None)
    with safe_open(good, "pt") as f:
        spec = json.loads(f.metadata()["videomae"])
    fields = [("", key) for key in spec] + [("kwargs", key) for key in spec["kwargs"]]
    for where, key in fields:

        def change(s, where=where, key=key):
            (s[where] if where else s)[key] = value

        attempt(_with_spec(tmp_path, f"{where}.{key}.safetensors", change))
    from transformers import VideoMAEConfig, VideoMAEForPreTraining

    config = VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2, decoder_intermediate_size=32,
    )  # fmt: skip
    VideoMAEForPreTraining(config).save_pretrained(tmp_path / "hf")
    data = json.loads((tmp_path / "hf" / "config.json").read_text())
    for key in data:
        (tmp_path / "hf" / "config.json").write_text(json.dumps({**data, key: value}))
        attempt(tmp_path / "hf")
