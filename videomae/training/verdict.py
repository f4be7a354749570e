"""The verdict of a run's timing: loader-bound or model-bound, with the next step for this run.

`advice` suggests only what applies to the run's own settings (`RunSettings`): more loader
workers only below the cores there are, `data.num_sample` only at 1, the re-encoded copy only for
a dataset that is not one already, and so on. `verdict_line` is the one line a run prints.
"""

import os
from dataclasses import dataclass

from videomae.data.decoders import resolve

# A step that waits this share of its time or more for the next batch is loader-bound: the
# device idles that long every step, and a faster loader gives that time back.
LOADER_BOUND = 0.2
REENCODE_REPORT = "reencode_report.txt"  # what prepare_dataset.py --reencode leaves in the copy


@dataclass(frozen=True)
class RunSettings:
    """What the advice may change; None: not known for this run (no advice about it)."""

    pretrain: bool = True
    num_workers: int | None = None
    num_sample: int | None = None
    backend: str | None = None
    device_transforms: bool | None = None
    batch_size: int | None = None
    compile: bool | None = None
    data_root: str | None = None
    synthetic: bool = False


def from_config(cfg, pretrain: bool) -> RunSettings:
    """RunSettings of a run's config (`data.*`, `compile`)."""
    data = cfg.data
    return RunSettings(
        pretrain=pretrain,
        num_workers=int(data.get("num_workers", 0)),
        num_sample=int(data.get("num_sample", 1)),
        backend=str(data.get("backend", "auto")),
        device_transforms=bool(data.get("device_transforms", False)),
        batch_size=int(data.batch_size),
        compile=bool(cfg.get("compile", False)),
        data_root=data.get("root"),
        synthetic=str(data.get("name")) == "synthetic",
    )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _resolved_backend(backend: str | None) -> str | None:
    if backend != "auto":
        return backend
    try:
        return resolve("auto")
    except Exception:  # no decoder installed: nothing to advise about it
        return None


def _pyav_installed() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def loader_advice(s: RunSettings, cores: int, processes_per_node: int, on_gpu: bool) -> list[str]:
    out = []
    per_process = max(cores // max(processes_per_node, 1) - 1, 1)  # one core drives the model
    if s.num_workers is not None and s.num_workers < per_process:
        out.append(
            f"data.num_workers={per_process} (now {s.num_workers}; {cores} cores for "
            f"{processes_per_node} training process{'es' if processes_per_node > 1 else ''})"
        )
    if s.pretrain and s.num_sample == 1:
        out.append("data.num_sample=2 (two clips per decoded video)")
    if not s.synthetic and s.data_root and not os.path.isfile(os.path.join(s.data_root, REENCODE_REPORT)):
        out.append("a re-encoded copy: scripts/prepare_dataset.py NAME --root ROOT --reencode COPY")
    backend = _resolved_backend(s.backend)
    if backend in ("decord", "torchcodec") and _pyav_installed():
        out.append(f"data.backend=pyav (now {backend})")
    if s.pretrain and on_gpu and s.device_transforms is False and (s.num_sample or 1) > 1:
        out.append("data.device_transforms=true (crop, resize and flip on the GPU)")
    return out


def model_advice(s: RunSettings, on_gpu: bool, memory_used: float | None) -> list[str]:
    out = []
    if s.compile is False:
        out.append("compile=true")
    if on_gpu and s.batch_size is not None and memory_used is not None and memory_used < 0.5:
        out.append(
            f"a larger data.batch_size (now {s.batch_size}, {memory_used:.0%} of the GPU's memory used)"
        )
    return out


def verdict_line(
    data_wait_fraction: float,
    step_time: float,
    mfu: float | None,
    settings: RunSettings,
    *,
    when: str,
    cores: int | None = None,
    processes_per_node: int = 1,
    on_gpu: bool = False,
    memory_used: float | None = None,
) -> tuple[str, str]:
    """(kind, line): kind is `loader-bound` or `model-bound`; the line says it with the split,
    the MFU and what to try for this run."""
    cores = cores or available_cores()
    loader = data_wait_fraction >= LOADER_BOUND
    kind = "loader-bound" if loader else "model-bound"
    split = f"{data_wait_fraction:.0%} of each {step_time * 1e3:.0f} ms step waiting for data" + (
        f", MFU {mfu:.1%}" if mfu is not None else ""
    )
    tips = (
        loader_advice(settings, cores, processes_per_node, on_gpu)
        if loader
        else model_advice(settings, on_gpu, memory_used)
    )
    advice = "; try " + ", ".join(tips) if tips else ""
    return kind, f"timing ({when}): {kind}: {split}{advice}"
