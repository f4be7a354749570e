"""Where the time goes (videomae.training.timing, .verdict): runs made loader-bound and
model-bound on purpose get the right verdict, a plausible split and advice for their settings."""

import json
import os
import time

import pytest
import torch
from helpers import REPO, TINY, tiny_overrides
from hydra import compose, initialize_config_dir

from videomae.data.video import VideoDecoder
from videomae.report import report
from videomae.training.finetune import run as finetune_run
from videomae.training.pretrain import run
from videomae.training.timing import PerfConfig, StepTiming
from videomae.training.verdict import RunSettings, verdict_line
from videomae.utils.errors import ConfigError

# The runs here classify themselves by how long they waited for data: a test beside them on the
# same cores makes that wait, so they run alone.
pytestmark = pytest.mark.serial

TIMED = [
    "trainer.max_steps=6",
    "perf.verdict_after=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=true",
    "progress.style=lines",
    "progress.every_n_seconds=0",
    "probe.enabled=false",
    "viz.every_n_epochs=0",
]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two spinning threads make the model's
    time erratic (a load of 10 slowed a step of the tiny model from milliseconds to a second)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def timed_run(run_dir, root, overrides) -> dict:
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        # tiny_overrides: the demo data's size as the synthetic_root fixture wrote it
        cfg = compose("pretrain", overrides=[*TINY, *tiny_overrides(root), *TIMED, *overrides])
    run(cfg, str(run_dir))
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def verdicts(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("timing (")]


def test_loader_bound_run(tmp_path, synthetic_root, monkeypatch, capsys):
    """Every decode made 0.4 s slower, loading in the training process: the step waits."""
    read = VideoDecoder.read_with_indices  # what the datasets call

    def slow_read(self, *args, **kwargs):
        time.sleep(0.4)
        return read(self, *args, **kwargs)

    monkeypatch.setattr(VideoDecoder, "read_with_indices", slow_read)
    summary = timed_run(tmp_path / "run", synthetic_root, ["data.num_workers=0", "data.num_sample=1"])
    out = capsys.readouterr().out
    assert summary["bound"] == "loader-bound", out
    assert summary["data_wait_fraction"] > 0.5
    assert summary["step_time_s"] > 2 * 0.4  # two slowed decodes per batch of 2
    assert 0 < summary["mfu"] < 1
    lines = verdicts(out)
    assert [line.split(":")[0] for line in lines] == ["timing (first steps)", "timing (end of training)"]
    assert "loader-bound" in lines[0] and "data.num_sample=2" in lines[0]
    if os.cpu_count() and len(os.sched_getaffinity(0)) > 2:
        assert "data.num_workers=" in lines[0]
    assert "a re-encoded copy" not in lines[0]  # the demo's generated videos
    assert "compile=true" not in lines[0]  # model advice only when model-bound
    assert "% waiting for data" in out


def test_model_bound_run(tmp_path, synthetic_root, capsys):
    """vit_small on all but half the tokens of tiny, fast-decoding clips."""
    summary = timed_run(
        tmp_path / "run",
        synthetic_root,
        [
            "model=vit_small",
            "model.depth=6",
            "model.embed_dim=384",
            "model.num_heads=6",
            "model.decoder_embed_dim=192",
            "model.decoder_num_heads=3",
            "model.decoder_depth=2",
            "data.input_size=64",
            "data.num_frames=8",
            "mask.ratio=0.5",
        ],
    )
    out = capsys.readouterr().out
    assert summary["bound"] == "model-bound", out
    assert summary["data_wait_fraction"] < 0.2
    assert 0 < summary["mfu"] < 1.5  # over a measured matmul rate: near it, on CPU
    lines = verdicts(out)
    assert len(lines) == 2 and all("model-bound" in line for line in lines)
    assert "compile=true" in lines[-1] and "num_workers" not in lines[-1]
    table = report([str(tmp_path)])  # scripts/report.py: a column each, in per cent
    row = table["rows"][0]
    wait, mfu = table["header"].index("data wait"), table["header"].index("MFU")
    assert row[wait] == summary["data_wait_fraction"] and row[mfu] == summary["mfu"]
    assert f"| {summary['data_wait_fraction']:.1%} |" in table["text"]


def test_advice_applies_to_the_run_only():
    busy = RunSettings(num_workers=0, num_sample=1, backend="pyav", device_transforms=False, batch_size=8)
    kind, line = verdict_line(0.5, 0.2, 0.01, busy, when="x", cores=16, on_gpu=True)
    assert kind == "loader-bound"
    assert "data.num_workers=15 (now 0; 16 cores" in line and "data.num_sample=2" in line
    assert "data.backend" not in line  # pyav already
    assert "device_transforms" not in line  # brings nothing at num_sample=1
    tuned = RunSettings(num_workers=15, num_sample=4, backend="pyav", device_transforms=True, compile=True)
    kind, line = verdict_line(0.5, 0.2, None, tuned, when="x", cores=16, on_gpu=True)
    assert kind == "loader-bound" and "try" not in line  # nothing left to suggest here
    two_gpus = RunSettings(num_workers=4, num_sample=2, backend="pyav", device_transforms=False)
    _, line = verdict_line(0.5, 0.2, None, two_gpus, when="x", cores=16, processes_per_node=2, on_gpu=True)
    assert "data.num_workers=7" in line and "data.device_transforms=true" in line
    _, line = verdict_line(0.3, 0.2, None, two_gpus, when="x", cores=16, on_gpu=False)
    assert "device_transforms" not in line  # no training device to move the work to
    model = RunSettings(batch_size=8, compile=False)
    kind, line = verdict_line(0.05, 0.2, 0.3, model, when="x", cores=16, on_gpu=True, memory_used=0.2)
    assert kind == "model-bound" and "compile=true" in line and "data.batch_size (now 8" in line
    _, line = verdict_line(0.05, 0.2, 0.3, model, when="x", cores=16, on_gpu=True, memory_used=0.9)
    assert "batch_size" not in line
    root = RunSettings(data_root="/data/k400", num_workers=64)
    assert "--reencode" in verdict_line(0.5, 0.2, None, root, when="x", cores=16)[1]


def test_bad_peak_override_fails_with_one_line():
    with pytest.raises(ConfigError, match=r"^perf.peak_tflops=-1 is out of range; allowed: a number > 0$"):
        StepTiming(perf=PerfConfig(peak_tflops=-1))


def test_finetune_run_times_the_classifier(tmp_path, synthetic_root, capsys):
    """Fine-tuning gets the same split, its FLOPs those of the classifier on every token."""
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose(
            "finetune",
            overrides=[
                *TINY, *tiny_overrides(synthetic_root), *TIMED[:-2], "data.augment.rand_augment=null",
                "+trainer.limit_val_batches=0",
            ],
        )  # fmt: skip
    finetune_run(cfg, str(tmp_path / "run"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["bound"] in ("loader-bound", "model-bound") and 0 < summary["mfu"] < 1.5
    assert 0 <= summary["data_wait_fraction"] <= 1 and summary["step_time_s"] > 0
    assert len(verdicts(capsys.readouterr().out)) == 2
    assert "data.num_sample" not in summary["verdict"]  # a pre-training suggestion only
