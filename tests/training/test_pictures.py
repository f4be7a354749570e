"""Pictures and progress during pre-training: PNGs in the run directory, TensorBoard images, plain
progress lines when the output is not a terminal, and the one-line summary at the end."""

import os

import pytest
from helpers import run_script, tiny_overrides
from PIL import Image


def pretrain(tmp_path, synthetic_root, logger):
    run_dir = tmp_path / "run"
    result = run_script(
        "pretrain.py",
        *tiny_overrides(synthetic_root),
        f"logger={logger}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=2",
        "viz.every_n_epochs=1",
        "viz.num_clips=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


@pytest.mark.slow
def test_pictures_progress_and_summary_without_a_logger(tmp_path, synthetic_root):
    run_dir, result = pretrain(tmp_path, synthetic_root, "none")
    pictures = run_dir / "pictures"
    assert sorted(os.listdir(pictures)) == ["epoch0000.png", "epoch0001.png"]
    width, height = Image.open(pictures / "epoch0001.png").size
    assert width >= 4 * 128 and height >= 3 * 3 * 128  # 3 clips x 3 rows, 4 frames, enlarged
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "| loss " in lines[-1] and "| skipped 0 |" in lines[-1], result.stdout
    assert "| step 4/4" in lines[-1] and "clips/s" in lines[-1]
    summary = [line for line in result.stdout.splitlines() if line.startswith("pre-training done:")]
    assert len(summary) == 1, result.stdout
    assert "pre-training done: 4 steps in " in summary[0] and "0 skipped videos" in summary[0]
    assert summary[0].endswith(f"checkpoint: {run_dir / 'checkpoints' / 'last.ckpt'}; pictures: {pictures}")


@pytest.mark.slow
def test_tensorboard_gets_the_pictures(tmp_path, synthetic_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = pretrain(tmp_path, synthetic_root, "tensorboard")
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    images = events.Images("val/reconstruction")
    assert [image.step for image in images] == [2, 4]
    assert images[0].width >= 4 * 128 and images[0].height >= 9 * 128
