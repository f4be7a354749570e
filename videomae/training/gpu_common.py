"""What the GPU check's parts share (videomae.training.gpu_check): the sizes it runs at, the
results it writes after every part, clips without decoding, and the Lightning pieces."""

import json
import os
import platform
import time
import traceback
from dataclasses import asdict, dataclass, field

import pytorch_lightning as pl
import torch

from videomae.training.finetune_module import FinetuneModule
from videomae.training.pretrain_module import PretrainModule

GB = 1e9


@dataclass
class Sizes:
    """What the check runs at; `dry()` shrinks every size for a CPU."""

    model: dict = field(default_factory=lambda: {"name": "vit_base"})
    frames: int = 16
    size: int = 224
    max_batch: int = 64
    warmup: int = 3
    steps: int = 10
    lightning_steps: int = 20
    lightning_batch: int = 16
    big_models: tuple = ("vit_large", "vit_huge")
    memory_batches: tuple = (4, 8)
    compile_backend: str = "inductor"
    budget_s: float = 450.0

    @classmethod
    def dry(cls) -> "Sizes":
        tiny = {"name": "vit_tiny", "embed_dim": 32, "depth": 1, "num_heads": 2}
        tiny |= {"decoder_embed_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2}
        return cls(
            model=tiny, frames=4, size=32, max_batch=4, warmup=1, steps=2, lightning_steps=3,
            lightning_batch=2, big_models=("vit_large", "vit_huge"), memory_batches=(1, 2),
            compile_backend="aot_eager", budget_s=100.0,
        )  # fmt: skip

    def model_kwargs(self, name: str | None = None) -> dict:
        model = dict(self.model)
        if name is not None and model["name"] != "vit_tiny":
            model = {"name": name}
        elif name is not None:  # dry run: the big models' names, the tiny model's sizes
            model = dict(self.model)
        return {**model, "num_frames": self.frames, "img_size": self.size}


class Check:
    """The results so far, written out after every part."""

    def __init__(self, out: str, sizes: Sizes, device: torch.device, dry_run: bool):
        self.out, self.sizes, self.device = out, sizes, device
        self.started = time.perf_counter()
        self.results: dict = {
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or "cpu",
            "dry_run": dry_run,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "sizes": asdict(sizes),
            "parts": {},
        }

    def left(self) -> float:
        return self.sizes.budget_s - (time.perf_counter() - self.started)

    def run(self, name: str, part) -> None:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        if self.left() <= 0:
            entry: dict = {"status": "not run", "error": "out of the time budget"}
        else:
            try:
                entry = {"status": "ok", **part(self)}
            except Exception as err:  # recorded; the next part runs regardless
                traceback.print_exc()
                first = (str(err).splitlines() or [""])[0][:300]
                entry = {"status": "failed", "error": f"{type(err).__name__}: {first}"}
            finally:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - start, 1)
        self.results["parts"][name] = entry
        print(json.dumps(entry, default=str), flush=True)
        self.write()

    def write(self) -> None:
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, "gpu_check.json"), "w", encoding="utf-8") as f:
            json.dump(self.results, f, indent=2, default=str)
        with open(os.path.join(self.out, "gpu_check.md"), "w", encoding="utf-8") as f:
            f.write(markdown(self.results))


# --- helpers ----------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


def clips(batch: int, sizes: Sizes, device: torch.device) -> torch.Tensor:
    return torch.randn(batch, 3, sizes.frames, sizes.size, sizes.size, device=device)


def optimizer(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)


class RandomClips(torch.utils.data.Dataset):
    """uint8 clips (C, T, H, W) and labels: what the video loaders give, without decoding."""

    def __init__(self, sizes: Sizes, length: int, classes: int = 10):
        generator = torch.Generator().manual_seed(0)
        shape = (8, 3, sizes.frames, sizes.size, sizes.size)
        self.bank = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        self.length, self.classes = length, classes

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"video": self.bank[index % len(self.bank)], "label": index % self.classes}


class Losses(pl.Callback):
    """Each training step's loss."""

    def __init__(self):
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.values.append(float(loss.detach()))


OPTIM = {"base_lr": 1.5e-4, "min_lr": 1e-5, "warmup_lr": 0.0, "warmup_epochs": 0, "warmup_steps": 2,
         "weight_decay": 0.05, "betas": [0.9, 0.95]}  # fmt: skip


def make_module(kind: str, sizes: Sizes, batch: int, optim: dict | None = None):
    model = {k: v for k, v in sizes.model_kwargs().items()}
    optim = {**(optim or OPTIM), "batch_per_device": batch}
    if kind == "pretrain":
        return PretrainModule(model=model, mask={"type": "tube", "ratio": 0.9}, optim=optim)

    optim["layer_decay"] = 0.75
    return FinetuneModule(model=model, num_classes=10, optim=optim, mixup={"mixup_alpha": 0.8,
                          "cutmix_alpha": 1.0, "label_smoothing": 0.1})  # fmt: skip


def make_trainer(check: Check, steps: int, callbacks: list, strategy="auto", precision="bf16-mixed"):
    return pl.Trainer(
        accelerator=check.device.type if check.device.type == "cuda" else "cpu",
        devices=1,
        strategy=strategy,
        precision=precision,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=max(steps // 4, 1),
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=callbacks,
        use_distributed_sampler=False,  # one process: the same batches for every strategy
        default_root_dir=os.path.join(check.out, "lightning"),
    )


# --- report -------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(results: dict) -> str:
    lines = [
        f"# GPU check: {results['device']}" + (" (dry run)" if results["dry_run"] else ""),
        "",
        f"{results['date']}; torch {results['torch']}, CUDA {results['cuda']}",
        "",
        "| part | what | value |",
        "|---|---|---|",
    ]
    for part, entry in results["parts"].items():
        if entry.get("status") != "ok":
            lines.append(f"| {part} | {entry.get('status')} | {entry.get('error', '')} |")
            continue
        for key, value in entry.items():
            if key in ("status",):
                continue
            if isinstance(value, dict):
                text = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if not isinstance(v, list))
                lines.append(f"| {part} | {key} | {text} |")
            else:
                lines.append(f"| {part} | {key} | {_fmt(value)} |")
    return "\n".join(lines) + "\n"
