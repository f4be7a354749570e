"""Checkpoints that travel: every layout loads with identical outputs, exports load, bad files fail.

Tiny random models; "identical" means a relative error of at most 1e-5 against transformers and
bit-equality for round trips through our own code.
"""

import argparse
import json
import os
import pickle
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import REPO, garbage_bytes, run_command
from safetensors.torch import load_file, save_file
from transformers import VideoMAEConfig, VideoMAEForPreTraining, VideoMAEForVideoClassification

import videomae
from videomae import (
    create_classifier,
    create_pretrain_model,
    export_hf,
    export_original,
    export_ours,
    load_weights,
    model_from_checkpoint,
)
from videomae.checkpoints import io as ckpt_io
from videomae.checkpoints.record import training_record
from videomae.models.masking import MaskGenerator
from videomae.utils.errors import CheckpointError

TINY = dict(
    num_frames=4,
    img_size=32,
    patch_size=16,
    tubelet_size=2,
    embed_dim=64,
    depth=2,
    num_heads=4,
    decoder_embed_dim=32,
    decoder_depth=1,
    decoder_num_heads=2,
)
RECT = dict(
    num_frames=6,
    img_size=(24, 40),
    patch_size=8,
    tubelet_size=3,
    embed_dim=48,
    depth=1,
    num_heads=3,
    decoder_embed_dim=64,
    decoder_depth=2,
    decoder_num_heads=4,
    mlp_ratio=2.0,
)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values everywhere (init leaves biases at zero, which would hide mapping mistakes)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model.eval()


def pretrain_model(cfg=TINY, **kw):
    return randomize(create_pretrain_model("vit_tiny", **{**cfg, **kw}))


def classifier(num_classes=5, cfg=TINY, **kw):
    return randomize(create_classifier("vit_tiny", num_classes, **{**cfg, **kw}))


def inputs(model, batch=2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    t, h, w = model.grid
    p, tub = model.encoder.patch_embed.patch_size, model.encoder.patch_embed.tubelet_size
    videos = torch.randn(batch, 3, t * tub, h * p, w * p, generator=gen)
    torch.manual_seed(seed)
    mask = MaskGenerator("tube", 0.75, model.grid)(batch, torch.device("cpu"))
    return videos, mask


@torch.no_grad()
def outputs(model, videos, mask=None):
    if isinstance(model, videomae.VideoMAEPretrain):
        loss, pred = model(videos, mask)
        return torch.cat([loss.reshape(1), pred.flatten()])
    return model(videos).flatten()


@torch.no_grad()
def hf_outputs(model, videos, mask=None):
    pixels = videos.transpose(1, 2)  # transformers takes (B, T, C, H, W)
    if isinstance(model, VideoMAEForPreTraining):
        out = model(pixels, bool_masked_pos=mask)
        return torch.cat([out.loss.reshape(1), out.logits.flatten()])
    return model(pixels).logits.flatten()


def assert_close(actual, expected, rel=1e-5):
    """Relative error at most `rel`, measured against the largest expected value."""
    err = (actual - expected).abs().max().item() / expected.abs().max().item()
    assert err <= rel, f"relative error {err:.3g} > {rel:g}"


def hf_config(cfg, **kw):
    size = cfg["img_size"]
    return VideoMAEConfig(
        image_size=list(size) if isinstance(size, tuple) else size,
        patch_size=cfg["patch_size"],
        num_frames=cfg["num_frames"],
        tubelet_size=cfg["tubelet_size"],
        hidden_size=cfg["embed_dim"],
        num_hidden_layers=cfg["depth"],
        num_attention_heads=cfg["num_heads"],
        intermediate_size=int(cfg.get("mlp_ratio", 4) * cfg["embed_dim"]),
        decoder_hidden_size=cfg["decoder_embed_dim"],
        decoder_num_hidden_layers=cfg["decoder_depth"],
        decoder_num_attention_heads=cfg["decoder_num_heads"],
        decoder_intermediate_size=int(cfg.get("mlp_ratio", 4) * cfg["decoder_embed_dim"]),
        **kw,
    )


def hf_model(cls, config, seed=0):
    model = cls(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model.eval()


# --- Hugging Face models created by transformers load into ours ------------------------------------


@pytest.mark.parametrize("mean_pooling", [False, True])
@pytest.mark.parametrize("cfg", [TINY, RECT], ids=["tiny", "rect"])
def test_hf_pretraining_dir_loads_with_identical_outputs(tmp_path, cfg, mean_pooling):
    # transformers' defaults: LayerNorm eps 1e-12, and with use_mean_pooling no final encoder norm.
    ref = hf_model(VideoMAEForPreTraining, hf_config(cfg, use_mean_pooling=mean_pooling))
    ref.save_pretrained(tmp_path / "hf")
    ours, report = model_from_checkpoint(tmp_path / "hf")
    assert report.layout == "Hugging Face transformers" and not report.kept
    videos, mask = inputs(ours)
    assert_close(outputs(ours.eval(), videos, mask), hf_outputs(ref, videos, mask))


def test_hf_config_with_its_own_decoder_mlp_size(tmp_path):
    # transformers' default decoder_intermediate_size (1536) is not 4x a small decoder width.
    config = VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, decoder_hidden_size=16,
        decoder_num_hidden_layers=1, decoder_num_attention_heads=2, use_mean_pooling=False,
    )  # fmt: skip
    ref = hf_model(VideoMAEForPreTraining, config)
    ref.save_pretrained(tmp_path / "hf")
    ours, _ = model_from_checkpoint(tmp_path / "hf")
    videos, mask = inputs(ours)
    assert_close(outputs(ours.eval(), videos, mask), hf_outputs(ref, videos, mask))
    export_hf(ours, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert (again["intermediate_size"], again["decoder_intermediate_size"]) == (64, 1536)


def test_hf_pretraining_into_our_model_uses_our_numerics(tmp_path):
    ref = hf_model(VideoMAEForPreTraining, hf_config(TINY, use_mean_pooling=False, layer_norm_eps=1e-6))
    ref.save_pretrained(tmp_path / "hf")
    ours = create_pretrain_model("vit_tiny", **TINY).eval()
    report = load_weights(ours, tmp_path / "hf")
    assert len(report.loaded) == len(ours.state_dict())
    assert any("1e-05" in note for note in report.notes)  # transformers' decoder.norm eps is reported
    ref.decoder.norm.eps = 1e-6  # hard-coded 1e-5 in transformers; ours is the original's 1e-6
    videos, mask = inputs(ours)
    assert_close(outputs(ours, videos, mask), hf_outputs(ref, videos, mask))


def test_hf_classification_dir_loads_with_identical_outputs(tmp_path):
    labels = ["archery", "bowling", "cooking", "dancing"]
    config = hf_config(RECT, id2label=dict(enumerate(labels)))
    ref = hf_model(VideoMAEForVideoClassification, config)
    ref.save_pretrained(tmp_path / "hf")
    ours, report = model_from_checkpoint(tmp_path / "hf")
    assert isinstance(ours, videomae.VideoMAEClassifier) and report.labels == labels
    videos, _ = inputs(ours)
    assert_close(outputs(ours.eval(), videos), hf_outputs(ref, videos))
    # Into a classifier built here: our eps; with transformers' fc_norm set to it, the same logits.
    built = create_classifier("vit_tiny", 4, **RECT).eval()
    load_weights(built, tmp_path / "hf")
    ref.fc_norm.eps = 1e-6
    for layer in ref.videomae.encoder.layer:
        layer.layernorm_before.eps = layer.layernorm_after.eps = 1e-6
    assert_close(outputs(built, videos), hf_outputs(ref, videos))


@pytest.mark.parametrize("bias_names", ["q_bias", "query.bias"])
def test_hf_weight_files_with_either_bias_naming(tmp_path, bias_names):
    """Files on disk name q/v biases `q_bias`/`v_bias`; transformers 5.6-5.17 wrote `query.bias`."""
    ref = hf_model(VideoMAEForPreTraining, hf_config(TINY, use_mean_pooling=False, layer_norm_eps=1e-6))
    ref.decoder.norm.eps = 1e-6
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    if bias_names == "q_bias":
        legacy = lambda key: key.replace("query.bias", "q_bias").replace("value.bias", "v_bias")
        state = {legacy(k): v for k, v in state.items()}
    assert any(bias_names in k for k in state)
    save_file(state, tmp_path / "weights.safetensors")
    torch.save(state, tmp_path / "pytorch_model.bin")
    videos, mask = inputs(create_pretrain_model("vit_tiny", **TINY))
    expected = hf_outputs(ref, videos, mask)
    for name in ("weights.safetensors", "pytorch_model.bin"):  # loose files, no config.json
        ours = create_pretrain_model("vit_tiny", **TINY).eval()
        load_weights(ours, tmp_path / name)
        assert_close(outputs(ours, videos, mask), expected)


# --- ours -> transformers -> ours --------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [TINY, RECT], ids=["tiny", "rect"])
def test_export_hf_pretraining(tmp_path, cfg):
    norm_pix_loss = cfg is TINY
    ours = pretrain_model(cfg, norm_pix_loss=norm_pix_loss)
    export_hf(ours, tmp_path / "hf")
    ref, info = VideoMAEForPreTraining.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"))
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["num_frames"] == cfg["num_frames"] and config["layer_norm_eps"] == 1e-6
    assert config["use_mean_pooling"] is False and config["architectures"] == ["VideoMAEForPreTraining"]
    videos, mask = inputs(ours)
    expected = outputs(ours, videos, mask)
    # As transformers builds it (decoder.norm eps 1e-5): loss and predictions within 1e-5.
    assert_close(hf_outputs(ref.eval(), videos, mask), expected)
    back, _ = model_from_checkpoint(tmp_path / "hf")
    assert torch.equal(outputs(back.eval(), videos, mask), expected)
    fresh = create_pretrain_model("vit_tiny", **cfg, norm_pix_loss=norm_pix_loss).eval()
    load_weights(fresh, tmp_path / "hf")
    assert torch.equal(outputs(fresh, videos, mask), expected)


def test_export_hf_classification(tmp_path):
    ours = classifier(3, RECT)
    export_hf(ours, tmp_path / "hf", labels=["a", "b", "c"])
    ref, info = VideoMAEForVideoClassification.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"))
    assert ref.config.id2label == {0: "a", 1: "b", 2: "c"}
    videos, _ = inputs(ours)
    expected = outputs(ours, videos)
    # transformers hard-codes fc_norm eps 1e-5 (ours and the original: 1e-6); that alone moves the
    # logits of this random model by about 2e-5 relative. With the eps aligned they agree to 1e-5.
    assert_close(hf_outputs(ref.eval(), videos), expected, rel=1e-4)
    ref.fc_norm.eps = 1e-6
    assert_close(hf_outputs(ref, videos), expected)
    back, report = model_from_checkpoint(tmp_path / "hf")
    assert report.labels == ["a", "b", "c"]
    assert torch.equal(outputs(back.eval(), videos), expected)


def test_export_hf_then_retargeted_in_transformers(tmp_path):
    """Re-saved by transformers with another label set: config.json, not our stale record, decides."""
    export_hf(classifier(5, drop_path_rate=0.1), tmp_path / "hf")
    kept, _ = model_from_checkpoint(tmp_path / "hf")
    assert kept.encoder.blocks[-1].drop_path.drop_prob == pytest.approx(0.1)  # our record, in sync
    labels = {0: "run", 1: "jump", 2: "swim"}
    ref = VideoMAEForVideoClassification.from_pretrained(
        tmp_path / "hf",
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        ignore_mismatched_sizes=True,
    )
    ref.save_pretrained(tmp_path / "retargeted")
    ours, report = model_from_checkpoint(tmp_path / "retargeted")
    assert ours.num_classes == 3 and report.labels == ["run", "jump", "swim"]
    assert any("no longer matches" in note for note in report.notes)
    videos, _ = inputs(ours)
    assert_close(outputs(ours.eval(), videos), hf_outputs(ref.eval(), videos))


def test_export_hf_refuses_layer_scale(tmp_path):
    with pytest.raises(CheckpointError, match="layer scale"):
        export_hf(pretrain_model(init_values=0.1), tmp_path / "hf")
    assert not (tmp_path / "hf" / "model.safetensors").exists()


# --- ours -> original -> ours, and our own exports --------------------------------------------------


@pytest.mark.parametrize("kind", ["pretrain", "classifier", "layer_scale"])
def test_export_original_round_trip(tmp_path, kind):
    model = {
        "pretrain": lambda: pretrain_model(),
        "classifier": lambda: classifier(),
        "layer_scale": lambda: pretrain_model(init_values=0.1, qkv_bias=False),
    }[kind]()
    export_original(model, tmp_path / "orig.pth")
    saved = torch.load(tmp_path / "orig.pth", weights_only=True)
    names = set(saved["model"])
    if kind == "classifier":  # the original fine-tuned names: no encoder. prefix
        assert {"patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "fc_norm.weight", "head.bias"} <= names
    else:
        assert {"encoder.blocks.0.attn.qkv.weight", "encoder_to_decoder.weight", "mask_token"} <= names
    videos, mask = inputs(model)
    back, _ = model_from_checkpoint(tmp_path / "orig.pth", num_heads=4, decoder_num_heads=2)
    assert torch.equal(outputs(back.eval(), videos, mask), outputs(model, videos, mask))


def test_export_ours_round_trip(tmp_path):
    model = classifier(7, RECT, drop_path_rate=0.1)
    export_ours(model, tmp_path / "w.safetensors", labels=list("abcdefg"))
    back, report = model_from_checkpoint(tmp_path / "w.safetensors")
    assert report.layout == "our exported weights" and report.labels == list("abcdefg")
    assert back.encoder.blocks[0].attn.num_heads == 3  # rebuilt from the recorded spec, not guessed
    videos, _ = inputs(model)
    assert torch.equal(outputs(back.eval(), videos), outputs(model, videos))


# --- the original layout, as the original code names its keys --------------------------------------


def original_finetuned_state(hf: VideoMAEForVideoClassification) -> dict[str, torch.Tensor]:
    """transformers weights renamed as MCG-NJU's modeling_finetune.py names them, written out by hand."""
    sd, out = hf.state_dict(), {}
    out["patch_embed.proj.weight"] = sd["videomae.embeddings.patch_embeddings.projection.weight"]
    out["patch_embed.proj.bias"] = sd["videomae.embeddings.patch_embeddings.projection.bias"]
    for i in range(hf.config.num_hidden_layers):
        src, dst = f"videomae.encoder.layer.{i}.", f"blocks.{i}."
        att = src + "attention.attention."
        out[dst + "attn.qkv.weight"] = torch.cat([sd[att + f"{n}.weight"] for n in ("query", "key", "value")])
        out[dst + "attn.q_bias"] = sd[att + "query.bias"]
        out[dst + "attn.v_bias"] = sd[att + "value.bias"]
        for ours, theirs in [
            ("attn.proj", "attention.output.dense"),
            ("norm1", "layernorm_before"),
            ("norm2", "layernorm_after"),
            ("mlp.fc1", "intermediate.dense"),
            ("mlp.fc2", "output.dense"),
        ]:
            for p in ("weight", "bias"):
                out[f"{dst}{ours}.{p}"] = sd[f"{src}{theirs}.{p}"]
    for p in ("weight", "bias"):
        out[f"fc_norm.{p}"] = sd[f"fc_norm.{p}"]
        out[f"head.{p}"] = sd[f"classifier.{p}"]
    return out


def test_original_finetuned_layout_variants(tmp_path):
    config = hf_config(TINY, layer_norm_eps=1e-6, id2label={i: str(i) for i in range(6)})
    ref = hf_model(VideoMAEForVideoClassification, config)
    ref.fc_norm.eps = 1e-6
    state = original_finetuned_state(ref)
    args = argparse.Namespace(model="vit_base_patch16_224", num_frames=4, input_size=32, nb_classes=6)
    variants = {
        "model": {"model": state, "epoch": 3, "args": args},
        "module": {"module": state},
        "compiled": {"model": {f"_orig_mod.{k}": v for k, v in state.items()}},
        "with_pos_embed": {"model": {**state, "pos_embed": torch.zeros(1, 16, 64)}},
        "encoder_prefix": {
            "model": {
                (k if k.startswith(("fc_norm", "head")) else f"encoder.{k}"): v for k, v in state.items()
            }
        },
    }
    videos, _ = inputs(create_classifier("vit_tiny", 6, **TINY))
    expected = hf_outputs(ref, videos)
    for name, payload in variants.items():
        torch.save(payload, tmp_path / f"{name}.pth")
        ours = create_classifier("vit_tiny", 6, **TINY).eval()
        report = load_weights(ours, tmp_path / f"{name}.pth")
        assert_close(outputs(ours, videos), expected)
        assert not report.kept, name
        if name == "with_pos_embed":
            assert "pos_embed" in report.ignored and "pos_embed" in report.summary()
    built, report = model_from_checkpoint(tmp_path / "model.pth", num_heads=TINY["num_heads"])
    assert built.grid == (2, 2, 2)  # frames and resolution from the original's saved args
    assert_close(outputs(built.eval(), videos), expected)


@pytest.mark.parametrize("container", ["model", "module", "_orig_mod"])
def test_original_pretrain_layout(tmp_path, container):
    ref = hf_model(VideoMAEForPreTraining, hf_config(TINY, use_mean_pooling=False, layer_norm_eps=1e-6))
    ref.decoder.norm.eps = 1e-6
    # The original pre-train names equal ours, so this mapping is checked against transformers too.
    state = videomae.checkpoints.hf.hf_to_ours(ref.state_dict())
    if container == "_orig_mod":
        payload = {"model": {f"_orig_mod.{k}": v for k, v in state.items()}}
    else:
        payload = {container: state}
    torch.save(payload, tmp_path / "ckpt.pth")
    ours = create_pretrain_model("vit_tiny", **TINY).eval()
    report = load_weights(ours, tmp_path / "ckpt.pth")
    assert report.layout.startswith("original")
    videos, mask = inputs(ours)
    assert_close(outputs(ours, videos, mask), hf_outputs(ref, videos, mask))


# --- our Lightning checkpoints, atomic writes ------------------------------------------------------


def tiny_fit(tmp_path) -> tuple[Path, torch.nn.Module]:
    import pytorch_lightning as pl

    from videomae.training.checkpoint_io import AtomicCheckpointIO
    from videomae.training.pretrain_module import PretrainModule

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            video = torch.randint(0, 255, (3, 4, 32, 32), dtype=torch.uint8)
            return {"video": video, "label": 0, "skipped": 0}

    optim = dict(base_lr=1e-4, min_lr=1e-5, warmup_lr=1e-6, warmup_epochs=0, warmup_steps=None)
    optim.update(weight_decay=0.05, betas=[0.9, 0.95], batch_per_device=2)
    module = PretrainModule(
        model={"name": "vit_tiny", **TINY}, mask={"type": "tube", "ratio": 0.75}, optim=optim, seed=0
    )
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        plugins=[AtomicCheckpointIO()],
    )
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    trainer.fit(module, datamodule=pl.LightningDataModule.from_datasets(Clips(), batch_size=2))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    return tmp_path / "last.ckpt", module.model.eval()


def test_lightning_checkpoint_loads_into_pretrain_model_and_classifier(tmp_path):
    path, trained = tiny_fit(tmp_path)
    assert "state_dict" in torch.load(path, weights_only=True)  # plain data: no pickled classes
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    rebuilt, report = model_from_checkpoint(path)
    assert report.layout == "our Lightning checkpoint"
    videos, mask = inputs(trained)
    assert torch.equal(outputs(rebuilt.eval(), videos, mask), outputs(trained, videos, mask))
    # Fine-tuning starts like this: the encoder from pre-training, a fresh head, no decoder.
    clf = create_classifier("vit_tiny", 10, **TINY)
    head = clf.head.weight.clone()
    report = load_weights(clf, path)
    assert set(report.kept) == {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}
    assert "decoder.blocks.0.attn.qkv.weight" in report.ignored and "encoder.norm.weight" in report.ignored
    assert torch.equal(clf.head.weight, head)
    for key, value in clf.encoder.state_dict().items():
        assert torch.equal(value, trained.encoder.state_dict()[key]), key


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    ckpt_io.save_torch({"step": torch.tensor(1)}, path)

    def crash(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # e.g. the job is killed mid-write

    monkeypatch.setattr(ckpt_io.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt_io.save_torch({"step": torch.tensor(2)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_atomic_write_survives_a_hard_crash(tmp_path):
    """A process that dies mid-write (no cleanup at all) leaves the previous checkpoint intact."""
    path = tmp_path / "w.safetensors"
    export_ours(pretrain_model(), path)
    before = load_file(path)
    code = f"""
import os, safetensors.torch as st
from videomae.checkpoints import io
def dying(tensors, filename, metadata=None):
    open(filename, "wb").write(b"partial")
    os._exit(9)
st.save_file = io.save_file = dying
import videomae
videomae.export_ours(videomae.create_pretrain_model("vit_tiny", num_frames=4, img_size=32), {str(path)!r})
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    after = load_file(path)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


# --- failures say what is wrong ---------------------------------------------------------------------


def test_shape_mismatch_lists_every_offending_key(tmp_path):
    export_original(pretrain_model(), tmp_path / "w.pth")
    wider = create_pretrain_model("vit_tiny", **{**TINY, "embed_dim": 48, "num_heads": 3})
    with pytest.raises(CheckpointError) as err:
        load_weights(wider, tmp_path / "w.pth")
    message = str(err.value)
    assert "encoder.patch_embed.proj.weight: checkpoint (64, 3, 2, 16, 16) vs model (48, 3, 2, 16, 16)" in (
        message
    )
    assert "encoder.blocks.1.attn.qkv.weight: checkpoint (192, 64) vs model (144, 48)" in message
    deeper = create_pretrain_model("vit_tiny", **{**TINY, "depth": 3})
    missing = r"missing from the checkpoint:\n\s+encoder.blocks.2.norm1.weight"
    with pytest.raises(CheckpointError, match=missing):
        load_weights(deeper, tmp_path / "w.pth")


def test_other_class_count_keeps_a_fresh_head(tmp_path):
    export_ours(classifier(5), tmp_path / "w.safetensors")
    clf = create_classifier("vit_tiny", 3, **TINY)
    head = clf.head.weight.clone()
    report = load_weights(clf, tmp_path / "w.safetensors")
    assert torch.equal(clf.head.weight, head) and "5 classes" in report.kept["head.weight"]
    assert "head kept fresh" in report.summary()


def test_other_frame_count_and_resolution_rebuild_positions(tmp_path):
    export_ours(pretrain_model(), tmp_path / "w.safetensors")
    ours, report = model_from_checkpoint(tmp_path / "w.safetensors", num_frames=8, img_size=48)
    assert ours.grid == (4, 3, 3) and any("position tables rebuilt" in n for n in report.notes)
    export_hf(ours, tmp_path / "hf")  # transformers builds its own tables for 8 x 48
    ref = VideoMAEForPreTraining.from_pretrained(tmp_path / "hf").eval()
    videos, mask = inputs(ours)
    assert_close(hf_outputs(ref, videos, mask), outputs(ours.eval(), videos, mask))


@pytest.mark.parametrize(
    "content, match",
    [
        ("truncated", "truncated"),
        ("garbage", "not a checkpoint"),
        ("empty", "empty file"),
        ("truncated_safetensors", "broken safetensors"),
        ("no_weights", "no weights found"),
        ("not_videomae", "no VideoMAE encoder weights"),
    ],
)
def test_broken_files_fail_with_a_clear_message(tmp_path, content, match):
    good = tmp_path / "good.pth"
    export_original(pretrain_model(), good)
    export_ours(pretrain_model(), tmp_path / "good.safetensors")
    data = {
        "truncated": lambda: good.read_bytes()[: good.stat().st_size // 2],
        "garbage": lambda: garbage_bytes(4096),
        "empty": lambda: b"",
        "truncated_safetensors": lambda: (tmp_path / "good.safetensors").read_bytes()[:-100],
    }
    path = tmp_path / "bad.pth"
    if content in data:
        path.write_bytes(data[content]())
    elif content == "no_weights":
        torch.save({"epoch": 3, "optimizer": {}}, path)
    else:
        torch.save({"model": {"fc.weight": torch.ones(2, 2)}}, path)
    with pytest.raises(CheckpointError, match=match) as err:
        load_weights(create_pretrain_model("vit_tiny", **TINY), path)
    assert str(path) in str(err.value) and "weights_only=False" not in str(err.value)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_weights(create_pretrain_model("vit_tiny", **TINY), tmp_path)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    state = create_pretrain_model("vit_tiny", **TINY).state_dict()
    torch.save({"model": state, "payload": Exploit(marker)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused.*posix.system|refused.*system"):
        load_weights(create_pretrain_model("vit_tiny", **TINY), tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [4, pickle.HIGHEST_PROTOCOL])
def test_a_plain_pickle_is_named_as_one_and_runs_nothing(tmp_path, recwarn, protocol):
    """A .pth written by pickle.dump (protocol 4 and up), not torch.save, was 'truncated or
    corrupt' (and torch warned about its protocol): it is complete, just not a checkpoint."""
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"model": {"w": [1.0]}, "payload": Exploit(marker)}, f, protocol=protocol)
    with pytest.raises(CheckpointError, match=r"evil.pth: a plain Python pickle \(.* bytes\), not a PyTorch"):
        load_weights(create_pretrain_model("vit_tiny", **TINY), tmp_path / "evil.pth")
    assert training_record(tmp_path / "evil.pth") is None  # fine-tuning's pretrained= reads it too
    assert not marker.exists() and not [w for w in recwarn if "pickle protocol" in str(w.message)]


# --- the command line ----------------------------------------------------------------------------


def test_convert_script_end_to_end(tmp_path, capsys):
    ref = hf_model(VideoMAEForVideoClassification, hf_config(TINY, id2label={0: "x", 1: "y"}))
    ref.save_pretrained(tmp_path / "hf")
    script = [sys.executable, os.path.join(REPO, "scripts", "convert.py")]
    run = run_command(
        [*script, str(tmp_path / "hf"), str(tmp_path / "orig.pth"), "--to", "original"],
    )
    assert run.returncode == 0, run.stderr
    assert "Hugging Face transformers" in run.stdout and "classification" in run.stdout
    assert len(run.stdout.splitlines()) < 25
    ours = create_classifier("vit_tiny", 2, **TINY).eval()
    load_weights(ours, tmp_path / "orig.pth")
    ref.fc_norm.eps = 1e-6
    for layer in ref.videomae.encoder.layer:
        layer.layernorm_before.eps = layer.layernorm_after.eps = 1e-6
    videos, _ = inputs(ours)
    assert_close(outputs(ours, videos), hf_outputs(ref, videos))
    # in-process: one start-up is enough
    convert = runpy.run_path(os.path.join(REPO, "scripts", "convert.py"))
    assert convert["main"]([str(tmp_path / "missing.pth"), str(tmp_path / "x"), "--to", "hf"]) == 2
    assert "no such file" in capsys.readouterr().err
