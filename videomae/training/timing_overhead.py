"""What the step timing (videomae.training.timing.StepTiming) costs on a CPU.

    python scripts/benchmark.py overhead            # about a minute on 2 cores

Two measures: the callback's own hooks, called as a training loop calls them (host clocks, one
window closed every `--log-every` steps), per step; and real Lightning runs of the smallest
model here (the tests' tiny pre-training model on random clips), with and without the callback,
taking turns, the median step time of each. The first is exact and tiny; the second shows that
the difference drowns in the noise of a real step.
"""

import argparse
import io
import statistics
import time
from types import SimpleNamespace

import pytorch_lightning as pl
import torch

from videomae.perf.flops import ClipFlops
from videomae.training.gpu_common import OPTIM, RandomClips, Sizes
from videomae.training.pretrain_module import PretrainModule
from videomae.training.timing import PerfConfig, StepTiming


def hook_cost(steps: int, log_every: int) -> float:
    """Seconds per step spent in StepTiming's hooks."""
    timing = StepTiming(perf=PerfConfig(peak_tflops=1.0, verdict_after=10**9), flops=ClipFlops(1e9, 0.0, 0.0))
    timing.peak, timing.peak_source = 1e12, "benchmark"
    trainer = SimpleNamespace(global_step=0, log_every_n_steps=log_every, is_global_zero=True)
    module = SimpleNamespace(device=torch.device("cpu"), log=lambda *a, **k: None)
    batch = {"video": torch.zeros(8, 1)}
    timing.on_train_epoch_start(trainer, module)
    start = time.perf_counter()
    for _ in range(steps):
        timing.on_train_batch_start(trainer, module, batch, 0)
        trainer.global_step += 1
        timing.on_train_batch_end(trainer, module, None, batch, 0)
    return (time.perf_counter() - start) / steps


class StepClock(pl.Callback):
    """Wall time of each training step, from one batch's start to the next's (data, step, hooks)."""

    def __init__(self):
        self.times: list[float] = []
        self._start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = time.perf_counter()
        if self._start is not None:
            self.times.append(now - self._start)
        self._start = now


def lightning_steps(with_timing: bool, steps: int, log_every: int) -> float:
    """Median seconds per step of a tiny pre-training run, data load included (the first steps
    and the run's setup, the peak's matmul measurement included, left out)."""

    sizes = Sizes.dry()
    torch.manual_seed(0)
    module = PretrainModule(
        model=sizes.model_kwargs(),
        mask={"type": "tube", "ratio": 0.9},
        optim={**OPTIM, "batch_per_device": 2},
    )
    data = torch.utils.data.DataLoader(RandomClips(sizes, 2 * steps), batch_size=2)
    clock = StepClock()
    callbacks: list[pl.Callback] = [clock]
    if with_timing:
        callbacks.append(StepTiming(perf=PerfConfig(verdict_after=10**9), stream=io.StringIO()))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=log_every,
        callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=data)
    return statistics.median(clock.times[5:])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="benchmark.py overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps per Lightning run (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="runs with and without, taking turns")
    parser.add_argument("--log-every", type=int, default=50, help="trainer.log_every_n_steps (default 50)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    hook = min(hook_cost(20000, args.log_every) for _ in range(3))
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for with_timing in (False, True):
            runs[with_timing].append(lightning_steps(with_timing, args.steps, args.log_every))
    without, with_ = statistics.median(runs[False]), statistics.median(runs[True])
    result = {
        "hook_us_per_step": hook * 1e6,
        "step_ms_without": without * 1e3,
        "step_ms_with": with_ * 1e3,
        "hook_share_of_step": hook / without,
        "run_difference": with_ / without - 1,
    }
    print(
        f"StepTiming hooks: {hook * 1e6:.1f} us per step = {hook / without:.3%} of the tiny model's "
        f"{without * 1e3:.1f} ms step (one thread)"
    )
    print(
        f"Lightning runs: {without * 1e3:.1f} ms per step without, {with_ * 1e3:.1f} ms with "
        f"({with_ / without - 1:+.1%}; medians of {args.rounds} runs x {args.steps} steps)"
    )
    return result
