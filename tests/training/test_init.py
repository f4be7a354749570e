"""`init=PATH`: continued pre-training from every released layout, a fresh optimizer and step, and
`ckpt_path` winning over `init` on a resume."""

import json
import os
import signal
import sys

import pytest
import torch
from helpers import REPO, TINY, TINY_MODEL, run_command, run_script, tiny_overrides
from hydra import compose, initialize_config_dir
from test_resume import interrupt, losses
from transformers import VideoMAEConfig, VideoMAEForPreTraining, VideoMAEForVideoClassification, VideoMAEModel

from videomae import create_classifier, create_pretrain_model
from videomae.checkpoints.hf import hf_to_ours
from videomae.training.init_weights import load_init, start_weights
from videomae.training.pretrain import run
from videomae.utils.errors import CheckpointError, ConfigError

# The size tiny_overrides gives the demo's pre-training model.
SIZE = dict(TINY_MODEL, num_frames=4, img_size=32, patch_size=8, tubelet_size=2)


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


def hf_dir(path, cls, seed=1, **config):
    config = VideoMAEConfig(
        image_size=32,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=128,
        decoder_hidden_size=32,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=128,
        use_mean_pooling=cls is VideoMAEForVideoClassification,  # as each is released
        **config,
    )
    model = randomized(cls(config), seed)
    model.save_pretrained(path)
    state = model.state_dict()
    if cls is VideoMAEModel:  # its keys carry no "videomae." prefix
        state = {f"videomae.{k}": v for k, v in state.items()}
    return hf_to_ours(state)


def write_layout(kind: str, root) -> tuple[str, dict]:
    """A file or directory of `kind` and the state it holds, in our names."""
    path = str(root / kind)
    if kind.startswith("hf_"):
        cls = {
            "hf_pretraining": VideoMAEForPreTraining,
            "hf_model": VideoMAEModel,
            "hf_classification": VideoMAEForVideoClassification,
        }[kind]
        extra = {"id2label": {0: "a", 1: "b", 2: "c"}} if cls is VideoMAEForVideoClassification else {}
        return path, hf_dir(path, cls, **extra)
    if kind.startswith("original_finetuned"):
        state = randomized(create_classifier("vit_tiny", 3, **SIZE), 2).state_dict()
        state = {k.removeprefix("encoder."): v for k, v in state.items()}  # MCG-NJU fine-tuned names
        torch.save({"model": state}, path + ".pth")
        return path + ".pth", {
            (k if k.startswith(("fc_norm", "head")) else f"encoder.{k}"): v for k, v in state.items()
        }
    state = randomized(create_pretrain_model("vit_tiny", **SIZE), 3).state_dict()
    if kind == "original_encoder_only":
        state = {
            k: v for k, v in state.items() if k.startswith("encoder.") and not k.startswith("encoder.norm")
        }
    payload = {
        "original_model": {"model": state},
        "original_module": {"module": state},
        "original_compiled": {"model": {f"_orig_mod.{k}": v for k, v in state.items()}},
        "original_encoder_only": {"model": state},
    }[kind]
    torch.save(payload, path + ".pth")
    return path + ".pth", state


LAYOUTS = [
    "original_model",
    "original_module",
    "original_compiled",
    "original_encoder_only",
    "original_finetuned",
    "hf_pretraining",
    "hf_model",
    "hf_classification",
]


@pytest.mark.parametrize("kind", LAYOUTS)
def test_every_released_layout_starts_a_pretraining_model(tmp_path, kind):
    path, state = write_layout(kind, tmp_path)
    model = create_pretrain_model("vit_tiny", **SIZE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = start_weights(model, path, None)
    after = model.state_dict()
    encoder = [k for k in after if k.startswith("encoder.") and not k.startswith("encoder.norm")]
    for key in encoder:
        assert torch.equal(after[key], state[key]), key
    has_decoder = any(k.startswith("decoder.") for k in state)
    for key in (k for k in after if k.startswith("decoder.")):
        assert torch.equal(after[key], state[key] if has_decoder else before[key]), key
    assert report.startswith(f"init={path}: a new run")
    assert "loaded:" in report
    fresh_line = [
        line
        for line in report.splitlines()
        if "the decoder, encoder_to_decoder and mask_token start fresh" in line
    ]
    assert len(fresh_line) == (0 if has_decoder else 1), report


def test_another_frame_count_and_resolution_rebuild_the_position_tables(tmp_path):
    path, _ = write_layout("hf_pretraining", tmp_path)
    model = create_pretrain_model("vit_tiny", **{**SIZE, "num_frames": 8, "img_size": 48})
    report = load_init(model, path)
    assert "position tables rebuilt" in report
    assert model.encoder.pos_embed.table.shape[1] == 4 * 6 * 6


def test_a_wrong_shape_and_a_file_without_encoder_fail_in_one_line(tmp_path):
    path, _ = write_layout("original_model", tmp_path)
    wider = create_pretrain_model("vit_tiny", **{**SIZE, "embed_dim": 64})
    with pytest.raises(CheckpointError) as err:
        load_init(wider, path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"init={path}: cannot load")
    assert "shape mismatch" in message and "more)" in message
    torch.save({"model": {"decoder.norm.weight": torch.ones(32)}}, tmp_path / "decoder_only.pth")
    with pytest.raises(CheckpointError, match="no VideoMAE encoder weights") as err:
        load_init(wider, str(tmp_path / "decoder_only.pth"))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"init=/nonexistent does not exist"):
        load_init(wider, "/nonexistent")


def test_resume_wins_over_init_and_says_so(tmp_path):
    path, state = write_layout("original_model", tmp_path)
    model = create_pretrain_model("vit_tiny", **SIZE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    said = start_weights(model, path, "RUN/checkpoints/last.ckpt")
    assert said.startswith("resuming RUN/checkpoints/last.ckpt; init=") and "ckpt_path wins" in said
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing loaded
    assert start_weights(model, None, None).startswith("init=null")


def compose_cfg(data_root, *extra):
    overrides = [*TINY, *tiny_overrides(data_root), "logger=csv", "trainer.log_every_n_steps=1"]
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        return compose("pretrain", overrides=[*overrides, "probe.enabled=false", *extra])


def test_init_from_our_own_run_starts_at_step_zero(tmp_path, synthetic_root, capsys):
    """Our own runs are PATHs too: a pre-training run continued from the weights of another, with a
    fresh optimizer and step (its first step is 0 and it runs all of trainer.max_steps)."""
    source = str(tmp_path / "source")
    run(compose_cfg(synthetic_root, "trainer.max_steps=3"), source)
    target = str(tmp_path / "target")
    last = run(compose_cfg(synthetic_root, "trainer.max_steps=2", f"init={source}"), target)
    out = capsys.readouterr().out
    assert f"init={source}: a new run" in out and "checkpoint: " in out
    ckpt = torch.load(last, weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 2
    summary = json.loads(open(os.path.join(target, "summary.json")).read())
    assert summary["init"] == os.path.abspath(source)
    with pytest.raises(ConfigError, match="init=/nowhere does not exist"):
        run(compose_cfg(synthetic_root, "trainer.max_steps=2", "init=/nowhere"), str(tmp_path / "bad"))


def pretrain_cmd(data_root, run_dir, *extra):
    return [
        sys.executable,
        os.path.join(REPO, "scripts", "pretrain.py"),
        *tiny_overrides(data_root),
        "data.num_workers=0",
        "logger=csv",
        "trainer.log_every_n_steps=1",
        "trainer.max_steps=24",
        "probe.enabled=false",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["original_compiled", "hf_classification"])
def test_continued_pretraining_killed_and_resumed_matches_the_uninterrupted_run(
    tmp_path, synthetic_root, kind
):
    path, _ = write_layout(kind, tmp_path)
    reference = tmp_path / "reference"
    done = run_command(pretrain_cmd(synthetic_root, reference, f"init={path}"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"init={path}: a new run" in done.stdout
    expected = losses(reference)
    assert sorted(expected) == list(range(24))
    run_dir = tmp_path / "run"
    saved = interrupt(
        pretrain_cmd(synthetic_root, run_dir, f"init={path}"), run_dir, signal.SIGKILL, after_step=8
    )
    resumed = run_command(
        pretrain_cmd(synthetic_root, run_dir, f"init={path}", "ckpt_path=last"),
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "ckpt_path wins" in resumed.stdout and "a new run" not in resumed.stdout
    after = {step: loss for step, loss in losses(run_dir).items() if step >= saved}
    assert sorted(after) == list(range(saved, 24))
    for step, loss in after.items():
        assert loss == pytest.approx(expected[step], rel=1e-6, abs=1e-7), (step, loss, expected[step])


def test_init_is_checked_before_a_run_starts(tmp_path, synthetic_root):
    result = run_script(
        "pretrain.py",
        *TINY,
        *tiny_overrides(synthetic_root),
        "init=/no/such/file.pth",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode != 0
    assert "init=/no/such/file.pth does not exist" in result.stderr
