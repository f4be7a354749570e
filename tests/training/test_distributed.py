"""Distributed and mixed-precision pre-training on this machine's CPU (gloo)."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from helpers import REPO, run_script, tiny_overrides

from videomae import model_from_checkpoint

# Tests with several training processes are marked serial: they run alone.


def run_with_probe(tmp_path, synthetic_root, *args):
    probe = tmp_path / "probe"
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        "logger=csv",
        f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.probe._target_=rank_probe.RankProbe",
        f"+callbacks.probe.out_dir={probe}",
        *args,
        tests_importable=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((probe / f"rank{r}.json").read_text()) for r in range(len(list(probe.iterdir())))]


@pytest.mark.slow
@pytest.mark.serial
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
@pytest.mark.parametrize(
    "precision, strategy",
    [
        ("bf16-mixed", "auto"),
        ("16-mixed", "auto"),
        pytest.param("bf16-mixed", "fsdp", marks=pytest.mark.serial),
    ],
)
def test_mixed_precision_keeps_the_loss_in_fp32(tmp_path, synthetic_root, precision, strategy):
    fsdp = ["trainer.accelerator=cpu", "trainer.devices=2"] if strategy == "fsdp" else []
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        "logger=csv",
        f"hydra.run.dir={tmp_path}",
        f"trainer.precision={precision}",
        f"trainer.strategy={strategy}",
        *fsdp,
        "trainer.max_steps=3",
        "trainer.log_every_n_steps=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3
    assert all(v.dtype == torch.float32 for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    assert all(math.isfinite(loss) for loss in logged_losses(tmp_path).values())


def test_fsdp_strategy_shards_per_transformer_block():
    from hydra import compose, initialize_config_dir

    from videomae.models.layers import Block
    from videomae.training.run_steps import trainer_kwargs
    from videomae.training.strategies import BlockFSDPStrategy

    with initialize_config_dir(config_dir=f"{REPO}/configs", version_base="1.3"):
        cfg = compose("pretrain", overrides=["trainer.strategy=fsdp", "model=vit_large"])
    strategy = trainer_kwargs(cfg)["strategy"]
    assert isinstance(strategy, BlockFSDPStrategy)
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {Block}
    assert strategy.kwargs["use_orig_params"]  # the optimizer's groups hold the original parameters
    pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)  # Lightning takes it on CPU


# lr 0.01 (x 4 videos per step / 256) and weight decay 0.5, so that a parameter decayed wrongly (or not
# trained) shows in the loss at once; a constant lr (min_lr = base_lr, both scaled alike), so that a run
# stopped early has the schedule of the whole run.
STRONG_OPTIM = ["optim.base_lr=0.64", "optim.warmup_steps=0", "optim.min_lr=0.64", "optim.weight_decay=0.5"]


def logged_losses(run_dir) -> dict[int, float]:
    with open(run_dir / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


@pytest.mark.slow
@pytest.mark.serial
def test_fsdp_on_cpu_trains_as_ddp_does(tmp_path, synthetic_root):
    """Step for step the losses of DDP, also across a resume: every parameter, the root FSDP unit's
    included, is optimized with its own weight decay, and the optimizer state survives the checkpoint."""
    common = [
        *tiny_overrides(synthetic_root), *STRONG_OPTIM, "logger=csv", "trainer.log_every_n_steps=1",
        "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_steps=6",
    ]  # fmt: skip

    def pretrain(run_dir, strategy, *extra) -> dict[int, float]:
        result = run_script(
            "pretrain.py", *common, f"trainer.strategy={strategy}", f"hydra.run.dir={run_dir}", *extra
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return logged_losses(run_dir)

    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    expected = pretrain(ddp, "ddp")
    first = pretrain(fsdp, "fsdp", "trainer.max_steps=4")  # one epoch: 16 videos / (2 ranks x batch 2)
    resumed = pretrain(fsdp, "fsdp", "ckpt_path=last")  # its metrics.csv continues the first's
    assert sorted(expected) == list(range(6))
    assert sorted(first) == list(range(4)) and sorted(resumed) == list(range(6))
    assert first[0] == pytest.approx(expected[0], rel=1e-6, abs=0)
    for step, loss in {**first, **resumed}.items():
        assert loss == pytest.approx(expected[step], rel=1e-5, abs=0), (step, loss, expected[step])

    # rank 0 wrote the full state dict, with the keys of a DDP checkpoint
    fsdp_ckpt = torch.load(fsdp / "checkpoints" / "last.ckpt", weights_only=True)
    ddp_ckpt = torch.load(ddp / "checkpoints" / "last.ckpt", weights_only=True)
    assert fsdp_ckpt["global_step"] == 6 and list(fsdp_ckpt["state_dict"]) == list(ddp_ckpt["state_dict"])
    for key, value in ddp_ckpt["state_dict"].items():
        torch.testing.assert_close(fsdp_ckpt["state_dict"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert not list(fsdp.glob("checkpoints/*rank1*"))
    model, report = model_from_checkpoint(str(fsdp / "checkpoints" / "last.ckpt"))
    assert "encoder.blocks.0.attn.qkv.weight" in report.loaded and not report.kept


@pytest.mark.serial
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the GPU path of BlockFSDPStrategy")
def test_fsdp_gives_the_loss_of_the_plain_path(tmp_path, synthetic_root):
    common = [
        *tiny_overrides(synthetic_root), *STRONG_OPTIM, "logger=csv", "trainer.log_every_n_steps=1",
        "trainer.accelerator=gpu", "trainer.devices=1", "trainer.max_steps=3",
    ]  # fmt: skip
    losses = {}
    for strategy in ("auto", "fsdp"):
        run_dir = tmp_path / strategy
        result = run_script(
            "pretrain.py", *common, f"trainer.strategy={strategy}", f"hydra.run.dir={run_dir}"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        losses[strategy] = logged_losses(run_dir)
    assert losses["fsdp"][0] == pytest.approx(losses["auto"][0], rel=1e-6)
    assert losses["fsdp"] == pytest.approx(losses["auto"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.serial
def test_torchrun_on_two_nodes_only_rank_zero_writes_the_run_directory(tmp_path, synthetic_root):
    """The README's torchrun command, two nodes on this machine: rank 1 shares rank 0's
    hydra.run.dir and must not write there (config files, log lines), as under Lightning's
    launcher. Node 1 gets its own job name and one extra override: a log file or config file it
    wrote would show them."""
    run_dir, port = tmp_path / "run", str(29500 + os.getpid() % 1000)
    common = [*tiny_overrides(synthetic_root), "logger=csv", "trainer.accelerator=cpu",
              "trainer.devices=1", "trainer.num_nodes=2", "trainer.strategy=ddp", "trainer.max_steps=2",
              f"hydra.run.dir={run_dir}"]  # fmt: skip
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
               f"--node-rank={node}", "--master-addr=127.0.0.1", f"--master-port={port}",
               os.path.join(REPO, "scripts", "pretrain.py"), *common,
               *(["seed=0", "hydra.job.name=node1"] if node else [])]  # fmt: skip
        log = open(tmp_path / f"node{node}.txt", "w")
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
    codes = [proc.wait(timeout=300) for proc in procs]
    outputs = [(tmp_path / f"node{node}.txt").read_text() for node in (0, 1)]
    assert codes == [0, 0], outputs[1][-3000:] + outputs[0][-3000:]
    assert not (run_dir / "node1.log").exists()  # rank 1 logs to its own output
    assert "GLOBAL_RANK: 1" in outputs[1] and "probe: 16 training" in outputs[0]
    assert "seed=0" not in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "node1" not in (run_dir / ".hydra" / "hydra.yaml").read_text()
    assert json.loads((run_dir / "summary.json").read_text())["world_size"] == 2
    assert not [p.name for p in run_dir.iterdir() if "rank1" in p.name or p.name.startswith("train_ddp")]
