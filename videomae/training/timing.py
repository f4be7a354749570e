"""Where a step's time goes: `StepTiming`, a callback any training run can add.

Per logging window (every `trainer.log_every_n_steps` optimizer steps) it logs, to every logger
and the progress display:

- `time/step_s`: wall time per step (the window's wall time over its steps),
- `time/data_wait_fraction`: the share of it spent waiting for the next batch (from the end of a
  step to the start of the next: the loader's `next()` and the transfer to the device),
- `time/model_s`: the rest, per step (forward, backward, optimizer, the step's callbacks),
- `perf/mfu`: model FLOPs utilisation, the model's training FLOPs per clip (videomae.perf.flops)
  x clips per second / the device's peak for the precision in use (videomae.perf.peak).

Only host clocks are read per step; the device is synchronised once, at the end of a window, so
the window's wall time is the device's too (measured overhead: docs/benchmarks.md). Validation
and the time between epochs' last and first batches outside the loader are left out. After the
first windows and at the end of training it prints one verdict line (videomae.training.verdict).
"""

import sys
import time
from dataclasses import dataclass

import pytorch_lightning as pl
import torch

from videomae.perf.flops import ClipFlops, module_flops
from videomae.perf.peak import peak_flops, remeasured_rate
from videomae.training.verdict import RunSettings, verdict_line
from videomae.utils.config_fields import Settings, rule, setting


@dataclass(frozen=True, kw_only=True)
class PerfConfig(Settings):
    """`perf.*`: what StepTiming measures against and when it first says where the time goes."""

    GROUP = "perf"
    # the device's peak TFLOP/s for perf/mfu; null: the table of known devices, else a measured matmul rate
    peak_tflops: float | None = rule(low=0, low_open=True)
    # logging windows before the first verdict line (the first window, start-up, is left out)
    verdict_after: int = setting(3, low=1)


class Window:
    """Sums over some steps: steps, clips, seconds waiting for data, seconds in the step."""

    def __init__(self) -> None:
        self.steps = 0
        self.clips = 0
        self.wait = 0.0
        self.model = 0.0

    def add(self, other: "Window") -> None:
        self.steps += other.steps
        self.clips += other.clips
        self.wait += other.wait
        self.model += other.model

    @property
    def wall(self) -> float:
        return self.wait + self.model


def _clips(batch) -> int:
    if isinstance(batch, dict):
        video = batch.get("video")
        if video is not None:
            return int(video.shape[0])
        crops = batch.get("crops")  # data.device_transforms, before on_after_batch_transfer
        if crops is not None:
            return int(crops.shape[0] * crops.shape[1])
    return 0


class StepTiming(pl.Callback):
    """Step time split into data wait and model time, MFU, and the loader/model verdict.

    `settings`: the run's data and compile settings, for the verdict's advice (None: advice from
    what the trainer shows only). `perf`: the device's peak (None: the table of known devices,
    else a measured matmul rate) and after how many windows the early verdict comes (the first,
    with start-up, is left out of every verdict when there are more); see PerfConfig. `flops`:
    training FLOPs per clip; None: computed from the module's model
    (videomae.perf.flops.module_flops). `stream`: where the verdict lines go (None: stdout).
    """

    def __init__(
        self,
        settings: RunSettings | None = None,
        perf: PerfConfig | None = None,
        flops: ClipFlops | None = None,
        stream=None,
    ):
        perf = perf or PerfConfig()
        self.settings = settings or RunSettings()
        self.peak_tflops = perf.peak_tflops
        self.flops = flops
        self.verdict_after = perf.verdict_after
        self.stream = stream
        self.peak: float | None = None
        self.peak_source: str | None = None
        self.remeasures = 3  # a measured peak is timed again when the model beats it, this often at most
        self._device: torch.device | None = None
        self._precision = None
        self.windows: list[Window] = []
        self.verdicts: list[str] = []
        self.kind: str | None = None
        self._window = Window()
        self._start: float | None = None
        self._last_end: float | None = None
        self._last_logged_step = -1

    # --- setup --------------------------------------------------------------------------------

    def on_fit_start(self, trainer, pl_module):
        if self.flops is None:
            self.flops = module_flops(pl_module)
        if self.peak is None:
            self.peak, self.peak_source = peak_flops(pl_module.device, trainer.precision, self.peak_tflops)
        self._device, self._precision = pl_module.device, trainer.precision

    # --- per step: host clocks only -----------------------------------------------------------

    def on_train_epoch_start(self, trainer, pl_module):
        self._last_end = time.perf_counter()  # the first batch's wait includes the workers' start

    def on_validation_end(self, trainer, pl_module):
        if self._last_end is not None:
            self._last_end = time.perf_counter()  # validation is not data wait

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = time.perf_counter()
        if self._last_end is not None:
            self._window.wait += self._start - self._last_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        if self._start is not None:
            self._window.model += now - self._start
        self._window.steps += 1
        self._window.clips += _clips(batch)
        self._last_end = now
        step = trainer.global_step
        if step % max(trainer.log_every_n_steps, 1) == 0 and step != self._last_logged_step:
            self._last_logged_step = step
            self._close_window(trainer, pl_module)
            if len(self.windows) == self.verdict_after:
                self._verdict(trainer, pl_module, "first steps")

    def on_train_end(self, trainer, pl_module):
        if self._window.steps:  # a last, partial window
            self._close_window(trainer, pl_module, log=False, queued=False)
        if len(self.windows) > self.verdict_after or not self.verdicts:
            self._verdict(trainer, pl_module, "end of training")

    # --- per window ---------------------------------------------------------------------------

    def _close_window(self, trainer, pl_module, log: bool = True, queued: bool = True) -> None:
        """End the window: one device synchronisation, so that its wall time is the device's
        (`queued`: the time since the last step's end is the device's queued work, not, as at
        the end of training, the epoch's end hooks)."""
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        now = time.perf_counter()
        if queued and self._last_end is not None:
            self._window.model += now - self._last_end  # work the device still had queued
        self._last_end = now
        window, self._window = self._window, Window()
        self.windows.append(window)
        if log and window.steps:
            metrics = self.metrics(window)
            for key, value in metrics.items():
                pl_module.log(key, value, prog_bar=key in ("time/data_wait_fraction", "perf/mfu"))

    def mfu(self, window: Window) -> float | None:
        if self.flops is None or not self.peak or window.wall <= 0:
            return None
        achieved = self.flops.train * window.clips / window.wall
        measured = str(self.peak_source).startswith("measured")
        if achieved > self.peak and measured and self._device is not None and self.remeasures > 0:
            # Above the peak: the matmul was timed while the machine was busy (MFU over 100%).
            self.remeasures -= 1
            self.peak = max(self.peak, remeasured_rate(self._device, self._precision))
        return achieved / self.peak

    def metrics(self, window: Window) -> dict[str, float]:
        out = {
            "time/step_s": window.wall / window.steps,
            "time/data_wait_fraction": window.wait / window.wall if window.wall > 0 else 0.0,
            "time/model_s": window.model / window.steps,
        }
        mfu = self.mfu(window)
        if mfu is not None:
            out["perf/mfu"] = mfu
        return out

    def total(self) -> Window:
        """The windows after the first (start-up: workers, compilation), or the first alone."""
        total = Window()
        for window in self.windows[1:] if len(self.windows) > 1 else self.windows:
            total.add(window)
        return total

    def _verdict(self, trainer, pl_module, when: str) -> None:
        total = self.total()
        if not total.steps or total.wall <= 0:
            return
        on_gpu = pl_module.device.type == "cuda"
        memory = None
        if on_gpu:
            _, capacity = torch.cuda.mem_get_info(pl_module.device)
            memory = torch.cuda.max_memory_reserved(pl_module.device) / capacity
        self.kind, line = verdict_line(
            total.wait / total.wall,
            total.wall / total.steps,
            self.mfu(total),
            self.settings,
            when=when,
            processes_per_node=max(trainer.world_size // max(trainer.num_nodes, 1), 1),
            on_gpu=on_gpu,
            memory_used=memory,
        )
        self.verdicts.append(line)
        if trainer.is_global_zero:
            print(line, file=self.stream or sys.stdout, flush=True)

    # --- for summary.json ---------------------------------------------------------------------

    def timing_results(self) -> dict:
        total = self.total()
        if not total.steps or total.wall <= 0:
            return {}
        out = {
            "step_time_s": round(total.wall / total.steps, 6),
            "model_time_s": round(total.model / total.steps, 6),
            "data_wait_fraction": round(total.wait / total.wall, 4),
            "mfu": None,
            "train_flops_per_clip": self.flops.train if self.flops is not None else None,
            "peak_tflops": round(self.peak / 1e12, 4) if self.peak else None,
            "peak_source": self.peak_source,
            "bound": self.kind,
            "verdict": self.verdicts[-1] if self.verdicts else None,
        }
        mfu = self.mfu(total)
        out["mfu"] = round(mfu, 6) if mfu is not None else None
        return out
