"""Fine-tuning and multi-view evaluation: the recipe's pieces, loading other layouts, end to end."""

import csv
import json
import os

import pytest
import torch
from helpers import REPO, TINY, run_script, tiny_overrides
from hydra import compose, initialize_config_dir
from transformers import VideoMAEConfig, VideoMAEForPreTraining

import videomae
from videomae.data.annotations import AnnotationError
from videomae.training.evaluate import load_finetuned
from videomae.training.finetune import build_module, load_pretrained, run
from videomae.training.finetune_module import FinetuneModule, accuracies, video_predictions
from videomae.training.optim import build_adamw, param_group_names, param_groups
from videomae.training.run_steps import labeled_datamodule
from videomae.utils.errors import CheckpointError, ConfigError

CONFIGS = os.path.join(REPO, "configs")
TINY_KW = dict(embed_dim=32, depth=2, num_heads=2, num_frames=4, img_size=32)


def compose_cfg(name, overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(name, overrides=overrides)


def ft_cfg(synthetic_root, *overrides):
    return compose_cfg("finetune", [*tiny_overrides(synthetic_root), *TINY[-8:], *overrides])


# --- the recipe's pieces ----------------------------------------------------------------------------


def test_layer_decay_groups_scale_lr_by_depth():
    model = videomae.create_classifier("vit_tiny", 5, **TINY_KW)
    groups = param_groups(model, param_group_names(model, 0.05, layer_decay=0.75))
    optimizer = build_adamw(groups, 1e-3, (0.9, 0.999))
    scale = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            scale[p] = (group["lr_scale"], group["weight_decay"])
    named = dict(model.named_parameters())
    # depth 2: layers 0 (embedding), 1-2 (blocks), 3 (fc_norm, head)
    assert scale[named["encoder.patch_embed.proj.weight"]] == (0.75**3, 0.05)
    assert scale[named["encoder.blocks.0.attn.qkv.weight"]] == (0.75**2, 0.05)
    assert scale[named["encoder.blocks.1.mlp.fc1.weight"]] == (0.75, 0.05)
    assert scale[named["encoder.blocks.1.norm1.weight"]] == (0.75, 0.0)
    assert scale[named["head.weight"]] == (1.0, 0.05)
    assert scale[named["fc_norm.bias"]] == (1.0, 0.0)


def test_ema_under_fsdp_is_a_config_error(tmp_path, synthetic_root):
    cfg = ft_cfg(synthetic_root, "trainer.strategy=fsdp", "ema.enabled=true")
    with pytest.raises(ConfigError, match="ema.enabled=true does not work with trainer.strategy=fsdp"):
        run(cfg, str(tmp_path))


def test_test_predictions_drop_repeated_videos_and_score():
    ids = torch.tensor([3, 0, 1, 2, 3, 0])  # 4 videos over 2 ranks, the sampler padded 2
    probs = torch.eye(4)[[3, 0, 2, 2, 3, 0]]
    labels = torch.tensor([3, 0, 1, 2, 3, 0])
    kept, p, y = video_predictions(ids, probs, labels)
    assert kept.tolist() == [0, 1, 2, 3] and y.tolist() == [0, 1, 2, 3]
    m = accuracies(p, y, num_classes=4)
    assert m["top1"] == 75.0 and m["top5"] == 100.0 and m["mean_class"] == 75.0


def module(**kw):
    optim = dict(base_lr=1e-3, min_lr=1e-6, warmup_lr=1e-6, warmup_epochs=0, weight_decay=0.05)
    optim.update(betas=[0.9, 0.999], layer_decay=0.75, batch_per_device=4)
    mixup = dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, label_smoothing=0.1)
    return FinetuneModule({"name": "vit_tiny", **TINY_KW}, 4, optim, mixup=mixup, **kw)


def test_mixup_on_clips_and_label_smoothing():
    m = module()
    videos = torch.randn(4, 3, 4, 32, 32)
    labels = torch.tensor([0, 1, 2, 3])
    mixed, targets = m.soft_targets(videos.clone(), labels)
    assert mixed.shape == videos.shape and not torch.equal(mixed, videos)
    assert torch.allclose(targets.sum(1), torch.ones(4))
    _, targets = m.soft_targets(videos[:3].clone(), labels[:3])  # odd batch: smoothing only
    assert torch.allclose(targets[0], torch.tensor([0.925, 0.025, 0.025, 0.025]))


def test_ema_weights_travel_beside_the_model_in_checkpoints():
    m = module(ema={"enabled": True, "decay": 0.5})
    with torch.no_grad():
        m.model.head.weight.add_(1.0)
    m.model_ema.update(m.model, step=10)
    ckpt = {"state_dict": m.state_dict()}
    m.on_save_checkpoint(ckpt)
    assert all(k.startswith("model.") for k in ckpt["state_dict"]) and "head.weight" in ckpt["ema_state_dict"]
    m2 = module(ema={"enabled": True})
    m2.on_load_checkpoint(ckpt)
    m2.load_state_dict(ckpt["state_dict"])
    assert torch.equal(m2.model_ema.module.head.weight, m.model_ema.module.head.weight)
    assert not torch.equal(m2.model_ema.module.head.weight, m2.model.head.weight)


# --- configs ----------------------------------------------------------------------------------------

EXPERIMENTS = sorted(f[:-5] for f in os.listdir(os.path.join(CONFIGS, "experiment")) if f.endswith(".yaml"))


# A few values of the MCG-NJU scripts each experiment names (lr, min lr, epochs, layer decay / mask ratio):
# the pre-training scripts' --epochs 801 / 2401 / 3201 (HMDB51 has no script: the paper's 4800).
ORIGINAL_SCRIPTS = {
    "k400_vit_base_pretrain": dict(base_lr=1.5e-4, min_lr=1e-5, max_epochs=801, mask=0.9),
    "ssv2_vit_base_pretrain": dict(base_lr=1.5e-4, min_lr=1e-5, max_epochs=2401, mask=0.9),
    "ucf101_vit_base_pretrain": dict(base_lr=3e-4, min_lr=1e-5, max_epochs=3201, mask=0.75),
    "hmdb51_vit_base_pretrain": dict(base_lr=1.5e-4, min_lr=1e-5, max_epochs=4800, mask=0.9),
    "k400_vit_base_finetune": dict(base_lr=1e-3, min_lr=1e-6, max_epochs=100, layer_decay=0.75),
    "ssv2_vit_base_finetune": dict(base_lr=5e-4, min_lr=1e-6, max_epochs=30, layer_decay=0.75),
    "ucf101_vit_base_finetune": dict(base_lr=5e-4, min_lr=1e-5, max_epochs=100, layer_decay=0.7),
    "hmdb51_vit_base_finetune": dict(base_lr=1e-3, min_lr=1e-6, max_epochs=50, layer_decay=0.75),
}


def test_every_experiment_is_checked():
    assert sorted(ORIGINAL_SCRIPTS) == EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose(experiment):
    root = "pretrain" if experiment.endswith("_pretrain") else "finetune"
    cfg = compose_cfg(root, [f"experiment={experiment}"])
    expected = ORIGINAL_SCRIPTS[experiment]
    assert cfg.model.name == "vit_base"
    assert cfg.data.name == experiment.split("_")[0]
    assert (cfg.optim.base_lr, cfg.optim.min_lr, cfg.optim.warmup_lr) == (
        expected["base_lr"],
        expected["min_lr"],
        0,
    )
    assert cfg.trainer.max_epochs == expected["max_epochs"]
    assert cfg.data.sampling_mode == "original"  # frames, sizes and validation clips as the original
    if root == "finetune":
        assert cfg.optim.layer_decay == expected["layer_decay"]
        assert cfg.mixup.label_smoothing == 0.1 and cfg.optim.warmup_epochs == 5
    else:
        assert cfg.mask.ratio == expected["mask"] and cfg.optim.warmup_epochs == 40
        assert not cfg.data.flip  # the original pre-training only crops


def test_finetune_recipe_follows_the_dataset():
    assert compose_cfg("finetune", ["dataset=k400"]).trainer.max_epochs == 75
    assert compose_cfg("finetune", ["dataset=ssv2"]).trainer.max_epochs == 40
    assert compose_cfg("pretrain", ["dataset=k400"]).trainer.max_epochs == 800


# --- loading encoders from every layout ------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory, synthetic_root):
    run_dir = tmp_path_factory.mktemp("pretrain")
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        "logger=none",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def encoder_of(path):
    ckpt = torch.load(path, weights_only=True)
    return {
        k.removeprefix("model.encoder."): v for k, v in ckpt["state_dict"].items() if ".encoder." in f".{k}"
    }


def test_pretrained_run_dir_gives_the_encoder(synthetic_root, pretrain_run):
    cfg = ft_cfg(synthetic_root, "model.depth=1", f"pretrained={pretrain_run}")
    dm = labeled_datamodule(cfg)
    m = build_module(cfg, dm)
    summary = load_pretrained(m, cfg.pretrained)
    assert "our Lightning checkpoint" in summary
    assert "kept at init: fc_norm.* (2), head.* (2): not in the checkpoint (fresh head)" in summary
    assert "decoder.*" in summary and "pre-training only" in summary
    expected = encoder_of(pretrain_run / "checkpoints" / "last.ckpt")
    got = m.model.encoder.state_dict()
    assert expected.keys() - {"norm.weight", "norm.bias"} == got.keys()
    for key, value in got.items():
        assert torch.equal(value, expected[key]), key
    assert m.hparams.classes[0] == "east" and m.hparams.num_classes == 8


def hf_pretraining_dir(tmp_path, hidden=32):
    config = VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=hidden,
        num_hidden_layers=1, num_attention_heads=2, intermediate_size=4 * hidden, decoder_hidden_size=32,
        decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=128,
        use_mean_pooling=False,
    )  # fmt: skip
    model = VideoMAEForPreTraining(config)
    model.save_pretrained(tmp_path / "hf")
    return tmp_path / "hf", model


@pytest.mark.slow
def test_finetune_from_transformers_and_original_layouts(tmp_path, synthetic_root):
    hf_dir, hf = hf_pretraining_dir(tmp_path)
    original = tmp_path / "original.pth"
    state = videomae.checkpoints.hf.hf_to_ours(hf.state_dict())
    torch.save({"model": state}, original)
    for name, path in (("hf", hf_dir), ("original", original)):
        cfg = ft_cfg(
            synthetic_root,
            "model.depth=1",
            "model.patch_size=16",
            f"pretrained={path}",
            "trainer.max_steps=1",
        )
        dm = labeled_datamodule(cfg)
        m = build_module(cfg, dm)
        summary = load_pretrained(m, cfg.pretrained)
        assert ("Hugging Face" if name == "hf" else "original MCG-NJU") in summary
        assert torch.equal(
            m.model.encoder.blocks[0].attn.qkv.weight, state["encoder.blocks.0.attn.qkv.weight"]
        )
        last = run(cfg, str(tmp_path / f"run_{name}"))  # not in the folder of the weights
        assert os.path.isfile(last)


def test_mismatched_encoder_fails_naming_the_weights(tmp_path, synthetic_root):
    hf_dir, _ = hf_pretraining_dir(tmp_path, hidden=64)
    cfg = ft_cfg(synthetic_root, "model.depth=1", f"pretrained={hf_dir}")
    m = build_module(cfg, labeled_datamodule(cfg))
    with pytest.raises(CheckpointError, match=r"(?s)shape mismatch.*encoder.blocks.0.attn.qkv.weight"):
        load_pretrained(m, cfg.pretrained)


def test_label_outside_num_classes_names_file_and_line(tmp_path, synthetic_root):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a.mp4 0\nb.mp4 1\nc.mp4 9\n")
    cfg = compose_cfg("finetune", ["dataset=ucf101", f"data.root={data}", "data.num_classes=8"])
    with pytest.raises(AnnotationError, match=r"train.csv:3: label 9 is outside 0..7"):
        labeled_datamodule(cfg)


# --- the scripts end to end -------------------------------------------------------------------------


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_pretrain_finetune_evaluate_chain(tmp_path, synthetic_root, pretrain_run):
    run_dir = tmp_path / "ft"
    args = [*tiny_overrides(synthetic_root), "logger=csv", "+trainer.num_sanity_val_steps=0"]
    result = run_script(
        "finetune.py", *args, f"hydra.run.dir={run_dir}", f"pretrained={pretrain_run}",
        "trainer.max_epochs=1", "ema.enabled=true", "data.test_clips=2", "data.test_crops=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded:     15 tensors into VideoMAEClassifier" in result.stdout
    assert "head.* (2): not in the checkpoint (fresh head)" in result.stdout
    assert "fine-tuning done: 8 steps" in result.stdout and "val/top1_ema" in result.stdout
    with open(run_dir / "metrics.csv") as f:
        header = f.readline()
    assert "val/top1" in header and "val/top5" in header and "val/top1_ema" in header
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["kind"] == "finetune" and summary["status"] == "completed" and summary["steps"] == 8
    assert f"pretrained={pretrain_run}" in summary["overrides"] and summary["pretrained"] == str(pretrain_run)
    assert 0 <= summary["val/top1"] <= summary["best_val/top1"] <= 100 and "val/top1_ema" in summary

    result = run_script("evaluate.py", f"checkpoint={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test: 8 of 8 videos, 2 clips x 2 crops = 4 views each: top-1" in result.stdout
    summary = json.loads((run_dir / "eval" / "summary.json").read_text())
    assert summary["kind"] == "evaluate" and summary["status"] == "completed"
    assert f"top-1 {summary['test/top1']:.2f}%, top-5 {summary['test/top5']:.2f}%" in result.stdout
    assert summary["test/mean_class"] is not None and summary["test_views"] == 4
    rows = read_rows(run_dir / "eval" / "predictions.csv")
    assert sorted(int(r["video_id"]) for r in rows) == list(range(8))
    assert rows[0]["path"] == "val/east_0000.mp4" and rows[0]["label_name"] == "east"

    # Two processes (CPU DDP), 7 test videos: the sampler pads one; every video counted once.
    data_dir = os.path.join(synthetic_root, os.listdir(synthetic_root)[0])
    with open(os.path.join(data_dir, "val.csv")) as f:
        lines = f.readlines()[:7]
    test_list = tmp_path / "test7.csv"
    test_list.write_text("".join(os.path.join(data_dir, line) for line in lines))
    result = run_script(
        "evaluate.py", f"checkpoint={run_dir}", f"out={tmp_path / 'ddp'}", f"data.test_list={test_list}",
        "trainer.devices=2", "trainer.strategy=ddp", "data.test_batch_size=3", "ema=true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test: 7 of 7 videos" in result.stdout and "(EMA weights)" in result.stdout
    rows = read_rows(tmp_path / "ddp" / "predictions.csv")
    assert sorted(int(r["video_id"]) for r in rows) == list(range(7))


@pytest.mark.slow
def test_finetune_script_errors_are_one_clear_message(tmp_path, synthetic_root):
    hf_dir, _ = hf_pretraining_dir(tmp_path, hidden=64)
    args = [*tiny_overrides(synthetic_root), "logger=none", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_script("finetune.py", *args, f"pretrained={hf_dir}", timeout=120)
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: cannot load") and "encoder.blocks.0.attn.qkv.weight" in result.stderr
    )
    result = run_script("finetune.py", *args, "pretrained=/no/such/run", timeout=120)
    assert result.returncode == 2 and "error: pretrained=/no/such/run does not exist" in result.stderr


def test_evaluate_names_a_folder_that_is_not_a_run(tmp_path):
    """checkpoint=DIR without checkpoints/last.ckpt (a transformers export, an empty folder) said
    the folder 'does not exist'."""
    (tmp_path / "export").mkdir()
    with pytest.raises(ConfigError) as err:
        load_finetuned(str(tmp_path / "export"))
    assert str(err.value) == (
        f"checkpoint={tmp_path / 'export'} is a folder without checkpoints/last.ckpt: give a fine-tuning "
        "run directory or one of its checkpoints"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        load_finetuned(str(tmp_path / "nothing"))
