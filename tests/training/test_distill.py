"""Distillation: the targets' math, the teacher of every layout, the refusals, the student's
checkpoints, and `scripts/distill.py` killed and resumed."""

import csv
import json
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO, TINY, run_command, run_script, tiny_overrides
from hydra import compose, initialize_config_dir
from test_resume import kill_past_checkpoint, losses

from videomae import create_classifier, create_pretrain_model, export_hf, load_weights, model_from_checkpoint
from videomae.checkpoints.export import export_original
from videomae.models.distill import (
    encode_blocks,
    kd_loss,
    nested_masks,
    pool_to_student,
    regression_loss,
    to_teacher_grid,
)
from videomae.report.runs import pretraining_overrides
from videomae.training.configs import model_kwargs, optim_hparams
from videomae.training.distill import run
from videomae.training.distill_module import DistillModule
from videomae.training.run_steps import build_datamodule
from videomae.training.teacher import load_teacher
from videomae.training.teacher_cache import clip_key
from videomae.utils.errors import ConfigError

SMALL = dict(embed_dim=48, depth=2, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def teacher_pth(path, patch=8, frames=4, size=32, classes=0) -> str:
    """A tiny teacher wider and deeper than the tests' student, in the original layout."""
    kwargs = dict(patch_size=patch, num_frames=frames, img_size=size)
    if classes:
        small = {k: v for k, v in SMALL.items() if not k.startswith("decoder")}
        model = create_classifier("vit_tiny", classes, **small, **kwargs)
    else:
        model = create_pretrain_model("vit_tiny", **SMALL, **kwargs)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))  # not the init: a teacher whose outputs depend on its weights
    export_original(model, path)
    return str(path)


def cfg(data_root, *extra):
    overrides = [*TINY, *tiny_overrides(data_root), "logger=csv", "trainer.log_every_n_steps=1"]
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        return compose("distill", overrides=[*overrides, "probe.enabled=false", *extra])


# --- the math ----------------------------------------------------------------------------------


def test_encode_blocks_is_the_encoder_stopped_early():
    model = create_pretrain_model("vit_tiny", **SMALL, patch_size=8, num_frames=4, img_size=32).eval()
    videos = torch.randn(2, 3, 4, 32, 32)
    mask = nested_masks(2, model.grid, "tube", 0.75, 0.5, "cpu")[0]
    first, last = encode_blocks(model.encoder, videos, mask, [1, 2])
    assert torch.allclose(last, model.encoder.blocks[1](first), atol=1e-6)
    assert torch.allclose(model.encoder.norm(last), model.encoder(videos, mask), atol=1e-6)
    manual = model.encoder.blocks[0](model.encoder.patch_embed(videos) + model.encoder.pos_embed(32, videos))
    full = encode_blocks(model.encoder, videos, None, [1])[0]
    assert torch.allclose(full, manual, atol=1e-6)


@pytest.mark.parametrize("kind", ["tube", "random"])
def test_nested_masks_the_teacher_sees_what_the_student_sees(kind):
    torch.manual_seed(1)
    student, teacher = nested_masks(3, (2, 4, 4), kind, 0.75, 0.5, "cpu")
    assert (student.sum(1) == (24 if kind == "tube" else 24)).all()
    assert (teacher.sum(1) == 16).all()
    assert not (teacher & ~student).any()  # every teacher-masked token is student-masked
    if kind == "tube":
        assert torch.equal(student[:, :16], student[:, 16:])


def test_teacher_tokens_pooled_to_the_students_grid():
    """A teacher at patch 4 (grid 2x8x8) for a student at patch 8 (2x4x4): each student token gets
    the mean of its 2x2 teacher tokens; masked cells stay zero and are never read."""
    tokens = torch.randn(1, 128, 5)
    pooled = pool_to_student(tokens, None, (2, 8, 8), (2, 4, 4))
    grid = tokens.reshape(1, 2, 8, 8, 5)
    assert torch.allclose(pooled[0, 0], grid[0, 0, :2, :2].mean(dim=(0, 1)))
    assert torch.allclose(pooled[0, 16 + 5], grid[0, 1, 2:4, 2:4].mean(dim=(0, 1)))
    student_mask = torch.zeros(1, 32, dtype=torch.bool)
    student_mask[0, [0, 16]] = True  # one tube
    t_mask = to_teacher_grid(student_mask, (2, 4, 4), (1, 2, 2))
    assert t_mask.sum() == 8 and t_mask[0, [0, 1, 8, 9, 64, 65, 72, 73]].all()
    visible = pool_to_student(tokens[~t_mask].reshape(1, -1, 5), t_mask, (2, 8, 8), (2, 4, 4))
    assert torch.allclose(visible[~student_mask], pooled[~student_mask], atol=1e-6)


def test_losses():
    pred, target = torch.randn(2, 6, 8), torch.randn(2, 6, 8) * 3 + 1
    normed = F.layer_norm(target, (8,), eps=1e-6)
    assert regression_loss(normed, target, "l2", True) < 1e-10
    assert regression_loss(pred, target, "l1", False) == pytest.approx((pred - target).abs().mean().item())
    assert regression_loss(pred, target, "l2", False) == pytest.approx(((pred - target) ** 2).mean().item())
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    p_t = F.softmax(t / 2, -1)
    manual = (p_t * (p_t.log() - F.log_softmax(s / 2, -1))).sum(-1).mean() * 4
    assert kd_loss(s, t, 2.0) == pytest.approx(manual.item(), rel=1e-5)
    assert kd_loss(t, t, 2.0) < 1e-6


# --- the teacher ---------------------------------------------------------------------------------


def test_teacher_of_every_layout_gives_the_same_outputs(tmp_path):
    """Original .pth, OpenGVLab's compiled (`_orig_mod.`) .pth, a Hugging Face directory and our
    own Lightning checkpoint: one teacher, the same tokens, frozen and in eval mode."""
    path = teacher_pth(tmp_path / "t.pth")
    reference, _ = load_teacher(path, 4, 32, "latent")
    state = torch.load(path, weights_only=True)["model"]
    torch.save({"module": {f"_orig_mod.{k}": v for k, v in state.items()}}, tmp_path / "v2.pth")
    export_hf(reference, tmp_path / "hf")
    videos = torch.randn(2, 3, 4, 32, 32)
    expected = reference.encoder(videos)
    for source in (tmp_path / "v2.pth", tmp_path / "hf"):
        teacher, report = load_teacher(str(source), 4, 32, "latent")
        assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
        assert torch.allclose(teacher.encoder(videos), expected, atol=1e-5), source
        assert "loaded" in report


def test_teacher_made_for_other_frames_and_size_is_rebuilt(tmp_path):
    path = teacher_pth(tmp_path / "t16.pth", frames=16, size=64)
    teacher, report = load_teacher(path, 4, 32, "latent")
    assert teacher.encoder.grid == (2, 4, 4)
    assert teacher.encoder(torch.randn(1, 3, 4, 32, 32)).shape == (1, 32, 48)


def test_refusals_name_both_shapes(tmp_path, synthetic_root):
    coarse = teacher_pth(tmp_path / "p16.pth", patch=16)
    with pytest.raises(ConfigError, match=r"token grid \(2, 2, 2\).*student's \(2, 4, 4\)") as err:
        run(cfg(synthetic_root, f"teacher={coarse}"), str(tmp_path / "a"))
    assert "\n" not in str(err.value)
    odd = teacher_pth(tmp_path / "p7.pth", patch=7, size=28)
    with pytest.raises(ConfigError, match=r"tubes \(2 frames x 7 x 7 px\).*\(4 frames x 32 x 32 px\)"):
        run(cfg(synthetic_root, f"teacher={odd}"), str(tmp_path / "b"))
    pre = teacher_pth(tmp_path / "pre.pth")
    with pytest.raises(ConfigError, match=r"distill.target=logits needs a teacher with a classifier") as err:
        run(cfg(synthetic_root, f"teacher={pre}", "distill.target=logits"), str(tmp_path / "c"))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="teacher is not set"):
        run(cfg(synthetic_root), str(tmp_path / "d"))
    with pytest.raises(ConfigError, match=r"distill.target='pixels' is not one of latent, features, logits"):
        run(cfg(synthetic_root, f"teacher={pre}", "distill.target=pixels"), str(tmp_path / "e"))
    with pytest.raises(ConfigError, match=r"distill.teacher_blocks=\[5\]: block numbers must be in 1..2"):
        run(
            cfg(synthetic_root, f"teacher={pre}", "distill.target=features", "distill.teacher_blocks=[5]"),
            str(tmp_path / "f"),
        )


# --- runs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["latent", "features", "logits"])
def test_each_target_trains_a_student_whose_checkpoint_loads_everywhere(tmp_path, synthetic_root, target):
    teacher = teacher_pth(tmp_path / "t.pth", patch=4, classes=8 if target == "logits" else 0)
    before = torch.load(teacher, weights_only=True)["model"]
    run_dir = str(tmp_path / "run")
    probe = ["probe.enabled=true"] if target == "latent" else []  # the online probe, once
    last = run(
        cfg(synthetic_root, f"teacher={teacher}", f"distill.target={target}", "trainer.max_steps=3", *probe),
        run_dir,
    )
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 3
    # Only the student in the state dict (the heads beside it, the teacher nowhere).
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    assert ckpt["distill_heads"] and all(k.startswith("heads.") for k in ckpt["distill_heads"])
    assert not any(v.shape[-1] == 48 for v in ckpt["state_dict"].values())  # no teacher-width tensor
    student, report = model_from_checkpoint(last)
    assert type(student).__name__ == "VideoMAEPretrain" and student.encoder.embed_dim == 32
    classifier = create_classifier(
        "vit_tiny", 8, **{k: v for k, v in ckpt["hyper_parameters"]["model"].items() if k != "name"}
    )
    assert len(load_weights(classifier, last).loaded) > 0  # what finetune's pretrained= does
    export_hf(student, tmp_path / "hf")
    assert (tmp_path / "hf" / "config.json").is_file()
    summary = json.loads(open(os.path.join(run_dir, "summary.json")).read())
    assert summary["kind"] == "distill" and summary["status"] == "completed" and summary["target"] == target
    if probe:
        assert summary["probe/knn_top1"] is not None and os.path.isfile(os.path.join(run_dir, "probe.json"))
    after = torch.load(teacher, weights_only=True)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_students_encoder_is_trained_and_the_frozen_decoder_is_not(tmp_path, synthetic_root):
    teacher = teacher_pth(tmp_path / "t.pth")
    run_dir = str(tmp_path / "run")
    last = run(cfg(synthetic_root, f"teacher={teacher}", "trainer.max_steps=2", "seed=3"), run_dir)
    init = create_pretrain_model(
        "vit_tiny",
        **{
            k: v
            for k, v in torch.load(last, weights_only=True)["hyper_parameters"]["model"].items()
            if k != "name"
        },
    )
    state = {
        k.removeprefix("model."): v for k, v in torch.load(last, weights_only=True)["state_dict"].items()
    }
    assert not torch.equal(
        state["encoder.blocks.0.mlp.fc1.weight"], init.state_dict()["encoder.blocks.0.mlp.fc1.weight"]
    )
    first = run_dir + "-again"
    last2 = run(cfg(synthetic_root, f"teacher={teacher}", "trainer.max_steps=1", "seed=3"), first)
    state2 = {
        k.removeprefix("model."): v for k, v in torch.load(last2, weights_only=True)["state_dict"].items()
    }
    assert torch.equal(state["decoder.head.weight"], state2["decoder.head.weight"])  # frozen: unchanged


STEPS = 24


def distill_cmd(data_root, run_dir, teacher, *extra):
    return [
        sys.executable,
        os.path.join(REPO, "scripts", "distill.py"),
        *tiny_overrides(data_root),
        f"teacher={teacher}",
        "data.num_workers=1",
        "logger=csv",
        "trainer.log_every_n_steps=1",
        f"trainer.max_steps={STEPS}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["latent", "features", "latent-cache"])
def test_a_killed_distillation_resumes_with_the_same_losses(tmp_path, synthetic_root, target):
    """`latent-cache`: the killed run and the reference each fill their own teacher cache (the
    clips repeat every 2 epochs); the resumed run hits what the killed one stored."""
    teacher = teacher_pth(tmp_path / "t.pth")
    extra: tuple[str, ...] = (f"distill.target={target.removesuffix('-cache')}",)
    if target.endswith("cache"):
        extra += ("distill.cache.clip_cycle=2",)
    reference_dir = tmp_path / "reference"
    cache = (f"distill.cache.dir={tmp_path / 'ref-cache'}",) if target.endswith("cache") else ()
    done = run_command(
        distill_cmd(synthetic_root, reference_dir, teacher, *extra, *cache),
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reference = losses(reference_dir)
    assert len(reference) == STEPS
    run_dir = tmp_path / "run"
    extra += (f"distill.cache.dir={tmp_path / 'cache'}",) if target.endswith("cache") else ()
    saved = kill_past_checkpoint(distill_cmd(synthetic_root, run_dir, teacher, *extra), run_dir, after_step=8)
    assert 8 <= saved < STEPS
    resumed = run_command(
        distill_cmd(synthetic_root, run_dir, teacher, *extra, "ckpt_path=last"),
        cwd=REPO,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"done: {STEPS} steps" in resumed.stdout
    after = {step: loss for step, loss in losses(run_dir).items() if step >= saved}
    assert sorted(after) == list(range(saved, STEPS))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), (step, loss, reference[step])


# --- the teacher cache ---------------------------------------------------------------------------


def cache_losses(run_dir) -> dict[int, float]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


def test_cached_teacher_outputs_are_the_recomputed_ones(tmp_path, synthetic_root):
    """Entries against the teacher run again on the same clips; a second run over a full cache
    (every step a hit) trains exactly as the first (every first-epoch step a miss); without the
    cache the losses differ only by the fp16 rounding of the targets."""
    teacher = teacher_pth(tmp_path / "t.pth", patch=4)
    cache = tmp_path / "cache"
    extra = (
        f"teacher={teacher}",
        f"distill.cache.dir={cache}",
        "distill.cache.clip_cycle=1",
        "trainer.max_epochs=2",
        "trainer.max_steps=-1",
    )
    run(cfg(synthetic_root, *extra), str(tmp_path / "a"))
    first = cache_losses(tmp_path / "a")
    entries = [os.path.join(r, n) for r, _, ns in os.walk(cache) for n in ns if n.endswith(".pt")]
    assert len(entries) == 16  # 16 videos x 1 clip each: the second epoch only hit
    run(cfg(synthetic_root, *extra), str(tmp_path / "b"))
    assert cache_losses(tmp_path / "b") == first
    run(cfg(synthetic_root, *extra[:1], *extra[2:]), str(tmp_path / "c"))  # the same clips, no cache
    for step, loss in cache_losses(tmp_path / "c").items():
        assert loss == pytest.approx(first[step], rel=2e-3)

    # The entries against the teacher recomputed on the clips a loader gives (the same seeds).
    c = cfg(synthetic_root, *extra)
    module = DistillModule(
        model_kwargs(c),
        dict(c.mask),
        optim_hparams(c),
        dict(c.distill) | {"cache": dict(c.distill.cache), "predictor": dict(c.distill.predictor)},
        teacher,
    )
    datamodule = build_datamodule(c)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.train_set.clip_cycle = 1
    batch = next(iter(datamodule.train_dataloader()))
    videos = module.pixels(batch["video"])
    fresh = module.compute_full_view(videos)[0]
    for row, clip in enumerate(batch["video"]):
        entry = torch.load(module.cache.path(clip_key(clip)), weights_only=True)
        assert entry["outputs"][0].dtype == torch.float16
        assert torch.allclose(entry["outputs"][0].float(), fresh[row], atol=2e-3, rtol=2e-3)
        path, _ = datamodule.train_set.samples[int(batch["index"][row])]
        assert entry["video"] == path and entry["frame_indices"] == batch["frame_indices"][row].tolist()
    flipped = batch["video"].flip(-1)  # another augmentation of the same clips: no entry
    assert not module.cache.lookup([clip_key(clip) for clip in flipped])


def test_a_cache_made_for_another_teacher_is_refused(tmp_path, synthetic_root):
    first, second = teacher_pth(tmp_path / "t1.pth"), teacher_pth(tmp_path / "t2.pth", patch=4)
    cache = tmp_path / "cache"
    run(cfg(synthetic_root, f"teacher={first}", f"distill.cache.dir={cache}"), str(tmp_path / "a"))
    with pytest.raises(
        ConfigError, match=r"distill.cache.dir=.* holds a teacher cache made with other settings \(teacher"
    ) as err:
        run(cfg(synthetic_root, f"teacher={second}", f"distill.cache.dir={cache}"), str(tmp_path / "b"))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="features target's teacher sees a mask"):
        run(
            cfg(
                synthetic_root,
                f"teacher={first}",
                "distill.target=features",
                f"distill.cache.dir={tmp_path / 'c2'}",
            ),
            str(tmp_path / "c"),
        )


def test_logits_need_no_common_token_grid(tmp_path, synthetic_root):
    """A classifier teacher of patch 16 teaches a patch-8 student its logits (no tokens are
    compared), where the token targets refuse it (test_refusals_name_both_shapes)."""
    teacher = teacher_pth(tmp_path / "c16.pth", patch=16, classes=8)
    last = run(cfg(synthetic_root, f"teacher={teacher}", "distill.target=logits"), str(tmp_path / "run"))
    assert torch.load(last, weights_only=True)["global_step"] == 2


@pytest.mark.serial
@pytest.mark.slow
@pytest.mark.parametrize(("target", "strategy"), [("features", "ddp"), ("latent", "ddp"), ("latent", "fsdp")])
def test_distillation_on_two_cpu_processes(tmp_path, synthetic_root, target, strategy):
    """DDP (the features target freezes the blocks after the last aligned one: no unused trainable
    parameter) and FSDP: the student's checkpoint holds the student only, once."""
    teacher = teacher_pth(tmp_path / "t.pth")
    run_dir = tmp_path / "run"
    result = run_script(
        "distill.py",
        *tiny_overrides(synthetic_root),
        f"teacher={teacher}",
        f"distill.target={target}",
        "logger=csv",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"trainer.strategy={strategy}",
        "trainer.max_steps=4",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and all(k.startswith("model.") for k in ckpt["state_dict"])
    assert ckpt["distill_heads"]
    model, _ = model_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert model.encoder.embed_dim == 32


def test_a_finetuning_from_a_student_links_its_distillation_in_the_report(tmp_path):
    run_dir = tmp_path / "student"
    run_dir.mkdir()
    summary = {"kind": "distill", "overrides": ["teacher=/t.pth", "distill.target=features"]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    linked = pretraining_overrides(str(run_dir / "checkpoints" / "last.ckpt"))
    assert linked == {"pretrain:teacher": "/t.pth", "pretrain:distill.target": "features"}


def test_the_student_starts_from_init_and_a_resume_wins_over_it(tmp_path, synthetic_root, capsys):
    """`init=` (training.init_weights, shared with pre-training): the student's weights come from a
    checkpoint, here an earlier student's; with ckpt_path too, the resume wins."""
    teacher = teacher_pth(tmp_path / "t.pth")
    first = run(cfg(synthetic_root, f"teacher={teacher}", "seed=1"), str(tmp_path / "first"))
    run_dir = str(tmp_path / "second")
    run(
        cfg(synthetic_root, f"teacher={teacher}", f"init={tmp_path / 'first'}", "trainer.max_steps=1"),
        run_dir,
    )
    out = capsys.readouterr().out
    assert f"init={tmp_path / 'first'}: a new run from these weights" in out
    before = torch.load(first, weights_only=True)["state_dict"]
    after = torch.load(os.path.join(run_dir, "checkpoints", "last.ckpt"), weights_only=True)["state_dict"]
    assert torch.equal(
        before["model.decoder.head.weight"], after["model.decoder.head.weight"]
    )  # loaded, frozen
    assert json.loads(open(os.path.join(run_dir, "summary.json")).read())["init"] == str(tmp_path / "first")
    run(
        cfg(
            synthetic_root,
            f"teacher={teacher}",
            f"init={tmp_path / 'first'}",
            "trainer.max_steps=2",
            "ckpt_path=last",
        ),
        run_dir,
    )
    assert "ckpt_path wins" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"init=.*nowhere does not exist"):
        run(
            cfg(synthetic_root, f"teacher={teacher}", f"init={tmp_path / 'nowhere'}"), str(tmp_path / "third")
        )


@pytest.mark.parametrize("target", ["latent", "logits"])
def test_a_stopped_distillation_resumed_in_process_gives_the_same_losses(tmp_path, synthetic_root, target):
    """The fast version of the SIGKILL test: stopped after 3 steps (mid-epoch) and resumed to 6,
    the heads come back from `distill_heads` and every step's loss is the uninterrupted run's."""
    teacher = teacher_pth(tmp_path / "t.pth", classes=8 if target == "logits" else 0)
    common = (f"teacher={teacher}", f"distill.target={target}", "seed=2")
    run(cfg(synthetic_root, *common, "trainer.max_steps=6"), str(tmp_path / "whole"))
    run(cfg(synthetic_root, *common, "trainer.max_steps=3"), str(tmp_path / "split"))
    run(cfg(synthetic_root, *common, "trainer.max_steps=6", "ckpt_path=last"), str(tmp_path / "split"))
    whole, split = cache_losses(tmp_path / "whole"), cache_losses(tmp_path / "split")
    assert sorted(split) == list(range(6))
    assert all(split[step] == whole[step] for step in range(6)), (split, whole)
