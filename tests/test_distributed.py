"""Distributed and mixed-precision pre-training on this machine's CPU (gloo)."""

import json
import os

import pytest
import torch
from conftest import REPO, run_script, tiny_overrides

from videomae import model_from_checkpoint


def run_with_probe(tmp_path, synthetic_root, *args):
    probe = tmp_path / "probe"
    env_path = os.pathsep.join([os.path.join(REPO, "tests"), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path  # the probe module, for every rank's process
    try:
        result = run_script(
            "pretrain.py",
            *tiny_overrides(synthetic_root),
            "logger=csv",
            f"hydra.run.dir={tmp_path / 'run'}",
            "+callbacks.probe._target_=rank_probe.RankProbe",
            f"+callbacks.probe.out_dir={probe}",
            *args,
        )
    finally:
        os.environ["PYTHONPATH"] = env_path.split(os.pathsep, 1)[1]
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((probe / f"rank{r}.json").read_text()) for r in range(len(list(probe.iterdir())))]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path, synthetic_root):
    ranks = run_with_probe(
        tmp_path,
        synthetic_root,
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.max_steps=6",  # 16 videos / (2 ranks x batch 2) = 4 steps an epoch: two epochs
        "data.input_size=64",  # 120 tube masks per sample: a repeat across ranks means shared seeds
    )
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world"] == 2
    for step in range(4):  # within an epoch the ranks split the data: no video on both
        a, b = set(ranks[0]["indices"][step]), set(ranks[1]["indices"][step])
        assert not a & b
    seen = {i for r in ranks for batch in r["indices"][:4] for i in batch}
    assert len(seen) == 16  # and together they cover it
    assert all(m0 != m1 for m0, m1 in zip(ranks[0]["masks"], ranks[1]["masks"], strict=True))
    assert ranks[0]["weights"] == ranks[1]["weights"]  # gradients were synchronised
    model, report = model_from_checkpoint(str(tmp_path / "run" / "checkpoints" / "last.ckpt"))
    assert "encoder.blocks.0.attn.qkv.weight" in report.loaded
    assert torch.isfinite(next(model.parameters())).all()
    assert not (tmp_path / "run" / "checkpoints" / "last.rank1.ckpt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_keeps_the_loss_in_fp32(tmp_path, synthetic_root, precision):
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        "logger=csv",
        f"hydra.run.dir={tmp_path}",
        f"trainer.precision={precision}",
        "trainer.max_steps=3",
        "trainer.log_every_n_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3
    assert all(v.dtype == torch.float32 for k, v in ckpt["state_dict"].items() if v.is_floating_point())


def test_fsdp_strategy_shards_per_transformer_block():
    from hydra import compose, initialize_config_dir
    from pytorch_lightning.strategies import FSDPStrategy

    from videomae.models.layers import Block
    from videomae.training.pretrain import trainer_kwargs

    with initialize_config_dir(config_dir=f"{REPO}/configs", version_base="1.3"):
        cfg = compose("pretrain", overrides=["trainer.strategy=fsdp", "model=vit_large"])
    strategy = trainer_kwargs(cfg)["strategy"]
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {Block}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="Lightning's FSDP needs a GPU")
def test_fsdp_gives_the_loss_of_the_plain_path(tmp_path, synthetic_root):
    common = [*tiny_overrides(synthetic_root), "logger=csv", "trainer.max_steps=2", "trainer.accelerator=gpu"]
    losses = {}
    for strategy in ("auto", "fsdp"):
        run_dir = tmp_path / strategy
        result = run_script(
            "pretrain.py", *common, f"trainer.strategy={strategy}", "trainer.devices=1",
            f"hydra.run.dir={run_dir}", "trainer.log_every_n_steps=1",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        losses[strategy] = (run_dir / "metrics.csv").read_text()
    assert losses["auto"].splitlines()[1].split(",")[-2] == losses["fsdp"].splitlines()[1].split(",")[-2]
