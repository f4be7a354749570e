"""A run survives bad steps and pre-emption."""

import os
import signal
import subprocess
import sys
import time

import pytest
import pytorch_lightning as pl
import torch
from helpers import REPO, TINY_MODEL, TINY_SYNTHETIC, run_command, tiny_overrides

from videomae.data.config import DataConfig
from videomae.data.datamodule import create_datamodule
from videomae.training.pretrain_module import NonFiniteLossError, PretrainModule


def tiny_fit(tmp_path, synthetic_root, poison_steps, max_steps, patience=3):
    module = PretrainModule(
        model=dict(name="vit_tiny", num_frames=4, img_size=32, **TINY_MODEL),
        mask=dict(type="tube", ratio=0.75),
        optim=dict(
            base_lr=1e-3,
            min_lr=1e-5,
            warmup_lr=1e-6,
            warmup_epochs=0,
            weight_decay=0.05,
            betas=(0.9, 0.95),
            batch_per_device=2,
        ),  # fmt: skip
        max_nonfinite_steps=patience,
    )
    forward = module.model.forward

    def poisoned(videos, mask, targets=None):
        loss, pred = forward(videos, mask, targets)
        if module.global_step in poison_steps:
            loss = loss * float("nan")
        return loss, pred

    module.model.forward = poisoned
    data = create_datamodule(DataConfig(
        "synthetic", synthetic_root, num_frames=4, sampling_rate=2, input_size=32, batch_size=2,
        num_workers=0, pin_memory=False, synthetic=vars(TINY_SYNTHETIC),
    ))  # fmt: skip
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=2)
    trainer = pl.Trainer(
        max_steps=max_steps, accelerator="cpu", logger=False, callbacks=[ckpt],
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    return module, trainer, data


def test_a_nonfinite_step_is_skipped_and_counted(tmp_path, synthetic_root):
    module, trainer, data = tiny_fit(tmp_path, synthetic_root, poison_steps={2}, max_steps=5)
    trainer.fit(module, data)
    assert module.nonfinite_total >= 1 and trainer.global_step == 5
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_nonfinite_losses_in_a_row_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path, synthetic_root):
    module, trainer, data = tiny_fit(tmp_path, synthetic_root, poison_steps=set(range(4, 100)), max_steps=50)
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row \(steps 4 to 6\)"):
        trainer.fit(module, data)
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert 4 <= last["global_step"] <= 6
    state = {k.removeprefix("model."): v for k, v in last["state_dict"].items()}
    assert all(torch.isfinite(v).all() for v in state.values())
    for name, param in module.model.named_parameters():  # the skipped steps changed nothing
        torch.testing.assert_close(param.detach(), state[name])


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_run_resumes(tmp_path, synthetic_root):
    run_dir = tmp_path / "run"
    args = [*tiny_overrides(synthetic_root), "logger=none", f"hydra.run.dir={run_dir}"]
    cmd = [sys.executable, os.path.join(REPO, "scripts", "pretrain.py"), *args]
    proc = subprocess.Popen(
        [*cmd, "trainer.max_steps=-1", "trainer.max_epochs=100000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the first epoch's checkpoint: the run is training
    assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 143, output[-2000:]
    assert "SIGTERM: saved" in output and "resume with ckpt_path=last" in output, output[-2000:]
    step = torch.load(last, weights_only=True)["global_step"]
    assert step >= 8
    resumed = run_command(
        [*cmd, f"trainer.max_steps={step + 2}", "trainer.max_epochs=100000", "ckpt_path=last"],
        cwd=REPO,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"pre-training done: {step + 2} steps" in resumed.stdout


def test_ckpt_path_last_picks_the_newest_of_last_and_slurm_checkpoints(tmp_path, capsys):
    from videomae.training.run_steps import resolve_ckpt_path
    from videomae.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="ckpt_path=last: nothing to resume: no .*last.ckpt"):
        resolve_ckpt_path("last", str(tmp_path))  # a mistyped run directory must not start afresh
    assert resolve_ckpt_path("auto", str(tmp_path)) is None  # a requeued job's first start
    assert "ckpt_path=auto: no checkpoint yet" in capsys.readouterr().out
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(b"x")
    assert resolve_ckpt_path("last", str(tmp_path)) == str(last)
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    hpc.write_bytes(b"x")
    os.utime(last, (1, 1))
    assert resolve_ckpt_path("last", str(tmp_path)) == str(hpc)
    assert resolve_ckpt_path("auto", str(tmp_path)) == str(hpc)
    assert resolve_ckpt_path(None, str(tmp_path)) is None
