"""Progress that tells the truth: clips/s, loss, skipped videos and the run's ETA.

On a terminal, a rich progress bar (`RunProgressBar`); otherwise (logs, CI, SLURM output) plain
lines (`LineProgress`), one per epoch and at most one every `every_n_seconds` between, so a log
file shows the run's progress as it goes rather than one bar at the end.
"""

import datetime
import sys
import time
from dataclasses import dataclass

from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar

from videomae.utils.config_fields import Settings, setting
from videomae.utils.errors import ConfigError

STYLES = ("auto", "rich", "lines")


@dataclass(frozen=True, kw_only=True)
class ProgressConfig(Settings):
    """`progress.*`: how a run shows its progress."""

    GROUP = "progress"
    style: str = setting(checked=False)  # auto: rich on a terminal, lines otherwise | rich | lines
    every_n_seconds: float = setting(low=0)  # lines: one per epoch, and at most one this often between

    def check(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(f"progress.style={self.style!r} is not one of {', '.join(STYLES)}")


def _value(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    if value is None:
        return None
    return float(value.item() if hasattr(value, "item") else value)


def format_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(max(seconds, 0.0))))


class RunClock:
    """Seconds and steps since this process started training, for the run's ETA."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.start_step = 0
        self.clips = 0

    def begin(self, trainer) -> None:
        self.start = time.perf_counter()
        self.start_step = trainer.global_step
        self.clips = 0

    def count(self, trainer, batch) -> None:
        video = batch.get("video") if isinstance(batch, dict) else None
        if video is not None:
            self.clips += video.shape[0] * trainer.world_size

    def clips_per_sec(self) -> float | None:
        elapsed = self.elapsed()
        return self.clips / elapsed if self.clips and elapsed > 0 else None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start if self.start is not None else 0.0

    def eta(self, trainer) -> float | None:
        """Seconds left to the run's last step, at the pace of this process so far."""
        done = trainer.global_step - self.start_step
        total = trainer.estimated_stepping_batches
        if done <= 0 or not total or total == float("inf"):
            return None
        return self.elapsed() / done * max(total - trainer.global_step, 0)


def progress_metrics(trainer, clock: RunClock) -> dict[str, str]:
    """What the progress shows, formatted: loss, clips/s, data wait, MFU, lr, skipped videos, step
    and run ETA."""
    bar, logged = trainer.progress_bar_metrics, trainer.callback_metrics
    items = {}
    loss = _value(bar, "train/loss")
    if loss is not None:
        items["loss"] = f"{loss:.4f}"
    speed = _value(bar, "train/clips_per_sec")  # the last logging window's
    if speed is None:
        speed = clock.clips_per_sec()  # before the first window: the average so far
    if speed is not None:
        items["clips/s"] = f"{speed:.1f}"
    wait = _value(bar, "time/data_wait_fraction")  # the last logging window's (training.timing)
    if wait is not None:
        items["data"] = f"{wait:.0%} waiting for data"
    mfu = _value(bar, "perf/mfu")
    if mfu is not None:
        items["MFU"] = f"{mfu:.1%}"
    lr = _value(bar, "train/lr")
    if lr is not None:
        items["lr"] = f"{lr:.2e}"
    skipped = _value(logged, "data/skipped_videos")
    items["skipped"] = str(int(skipped or 0))
    total = trainer.estimated_stepping_batches
    total_text = "" if not total or total == float("inf") else f"/{int(total)}"
    items["step"] = f"{trainer.global_step}{total_text}"
    eta = clock.eta(trainer)
    if eta is not None:
        items["ETA"] = format_duration(eta)
    return items


class RunProgressBar(RichProgressBar):
    """Lightning's rich bar (epoch progress, elapsed and remaining time of the epoch, it/s) with the
    run's metrics: loss, clips/s, lr, skipped videos, global step and the run's ETA."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.clock = RunClock()

    def on_train_start(self, trainer, pl_module):
        self.clock.begin(trainer)
        super().on_train_start(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.clock.count(trainer, batch)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer, pl_module):
        return progress_metrics(trainer, self.clock)


class LineProgress(ProgressBar):
    """Plain progress lines for output that is not a terminal:

    `epoch 3/10 | loss 0.8123 | clips/s 52.1 | 42% waiting for data | MFU 31.2% | lr 1.20e-04 |
    skipped 0 | step 120/400 | ETA 0:12:00`
    """

    def __init__(self, every_n_seconds: float = 60.0, stream=None):
        super().__init__()
        self.every_n_seconds = float(every_n_seconds)
        self.stream = stream
        self.clock = RunClock()
        self._enabled = True
        self._last_print = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def line(self, trainer) -> str:
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        parts = [f"epoch {trainer.current_epoch + 1}{epochs}"]
        items = progress_metrics(trainer, self.clock)
        parts += [v if k == "data" else f"{k} {v}" for k, v in items.items()]
        return " | ".join(parts)

    def emit(self, trainer) -> None:
        if self._enabled and trainer.is_global_zero:
            print(self.line(trainer), file=self.stream or sys.stdout, flush=True)
            self._last_print = time.perf_counter()

    def on_train_start(self, trainer, pl_module):
        self.clock.begin(trainer)
        self._last_print = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.clock.count(trainer, batch)
        if self.every_n_seconds > 0 and time.perf_counter() - self._last_print >= self.every_n_seconds:
            self.emit(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        self.emit(trainer)


def build_progress(config: ProgressConfig) -> ProgressBar:
    """`auto`: the rich bar on a terminal, lines otherwise."""
    style, every_n_seconds = config.style, config.every_n_seconds
    if style == "auto":
        style = "rich" if sys.stdout.isatty() else "lines"
    return RunProgressBar() if style == "rich" else LineProgress(every_n_seconds)
