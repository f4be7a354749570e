"""The online probe's attentive head (`probe.kind=attentive` in pre-training): V-JEPA's probe
(videomae.models.probe_heads.AttentiveHead, `attentive_depth` blocks) fit on the frozen tokens of
the fixed training subset, AdamW with a per-step cosine for `attentive_epochs` epochs of
minibatches, then top-1 on the validation subset. No augmentation: the tokens are embedded once.

Deterministic given its inputs and `seed`: its own generator draws the initialisation and the
batch order (the caller restores the global generators anyway).
"""

import math

import torch
import torch.nn.functional as F

from videomae.models.probe_heads import AttentiveHead
from videomae.training.online_probe_subsets import ProbeConfig


def attentive_top1(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    num_classes: int,
    settings: ProbeConfig,
    batch_size: int = 32,
    seed: int = 0,
) -> float:
    """Top-1 (percent) on (val_x, val_y) of an attentive head fit on tokens train_x (M, N, D)."""
    if len(train_x) == 0 or len(val_x) == 0:
        return float("nan")
    device = train_x.device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        head = AttentiveHead(train_x.shape[-1], num_classes, int(settings.attentive_depth),
                             int(settings.attentive_heads)).to(device)  # fmt: skip
    decay = [p for n, p in head.named_parameters() if p.ndim > 1 and n != "query"]
    rest = [p for n, p in head.named_parameters() if p.ndim <= 1 or n == "query"]
    lr = float(settings.attentive_lr)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(settings.attentive_weight_decay)},
         {"params": rest, "weight_decay": 0.0}], lr=lr,
    )  # fmt: skip
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    total = int(settings.attentive_epochs) * steps_per_epoch
    generator = torch.Generator().manual_seed(seed)
    step = 0
    with torch.enable_grad():
        head.train()
        for _ in range(int(settings.attentive_epochs)):
            order = torch.randperm(len(train_x), generator=generator).to(device)
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                for group in optimizer.param_groups:  # cosine from lr to 0, per step
                    group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / total))
                loss = F.cross_entropy(head(train_x[rows].float()), train_y[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
    head.eval()
    with torch.no_grad():
        pred = torch.cat([head(val_x[i : i + 256].float()).argmax(1) for i in range(0, len(val_x), 256)])
    return 100.0 * int((pred == val_y).sum()) / len(val_y)
