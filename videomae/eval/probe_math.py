"""Frozen-feature probes: weighted kNN (as solo-learn and DINO) and a linear classifier.

Torch only, no Lightning: features (N, D) and integer labels (N,) in, top-1 accuracy in percent
out. Both run on the device of the features they are given.
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F


def knn_top1(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    val_f: torch.Tensor,
    val_y: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk: int = 1024,
) -> float:
    """Top-1 (percent) of a cosine kNN classifier: L2-normalised features, the `k` most similar
    training features of each validation feature vote for their label with weight
    exp(similarity / temperature); the class with the largest sum wins."""
    if len(val_f) == 0 or len(train_f) == 0:
        return float("nan")
    num_classes = int(num_classes or int(max(train_y.max(), val_y.max())) + 1)
    votes = knn_votes(train_f, train_y, val_f, k, temperature, num_classes, chunk)
    return 100.0 * int((votes.argmax(dim=1) == val_y).sum()) / len(val_f)


def knn_votes(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    val_f: torch.Tensor,
    k: int,
    temperature: float,
    num_classes: int,
    chunk: int = 1024,
) -> torch.Tensor:
    """(V, num_classes) summed vote weights of the weighted cosine kNN (see knn_top1): scores for
    top-5 and per-class accuracies as well as top-1."""
    train_f = F.normalize(train_f.float(), dim=1)
    val_f = F.normalize(val_f.float(), dim=1)
    k = min(int(k), len(train_f))
    parts = []
    for start in range(0, len(val_f), chunk):  # bounded memory on large subsets
        sim = val_f[start : start + chunk] @ train_f.T  # (V, N) cosine similarity
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(len(sim), num_classes, device=sim.device, dtype=weights.dtype)
        votes.scatter_add_(1, train_y[top_idx], weights)
        parts.append(votes)
    return torch.cat(parts) if parts else torch.zeros(0, num_classes, device=val_f.device)


def linear_top1(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    val_f: torch.Tensor,
    val_y: torch.Tensor,
    num_classes: int | None = None,
    steps: int = 300,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
) -> float:
    """Top-1 (percent) of a linear classifier fit on frozen features: features standardised with
    the training mean and std, full-batch AdamW on the mean cross-entropy for `steps` steps.

    The classifier starts at zero and every step uses the whole training set, so the fit is a
    deterministic function of its inputs: it draws no random numbers at all. The cross-entropy's
    gradient is written out (softmax minus one-hot): on a CPU the autograd engine's per-step cost
    is many times that of a problem this small.
    """
    if len(val_f) == 0 or len(train_f) == 0:
        return float("nan")
    num_classes = int(num_classes or int(max(train_y.max(), val_y.max())) + 1)
    pred = linear_scores(train_f, train_y, val_f, num_classes, steps, lr, weight_decay).argmax(dim=1)
    return 100.0 * int((pred == val_y).sum()) / len(val_y)


def linear_scores(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    val_f: torch.Tensor,
    num_classes: int,
    steps: int = 300,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
) -> torch.Tensor:
    """(V, num_classes) logits of the linear classifier of `linear_top1` on `val_f`."""
    train_f, val_f = train_f.float(), val_f.float()
    mean = train_f.mean(dim=0)
    std = train_f.std(dim=0, unbiased=False).clamp_min(1e-6)
    x, x_val = (train_f - mean) / std, (val_f - mean) / std
    one_hot = F.one_hot(train_y, num_classes).float()
    weight = torch.zeros(num_classes, x.shape[1], device=x.device)
    bias = torch.zeros(num_classes, device=x.device)
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    with _single_thread_if_small(x):
        for _ in range(int(steps)):
            residual = (torch.softmax(F.linear(x, weight, bias), dim=1) - one_hot) / len(x)
            weight.grad, bias.grad = residual.T @ x, residual.sum(dim=0)
            optimizer.step()
    return F.linear(x_val, weight, bias)


@contextmanager
def _single_thread_if_small(x: torch.Tensor, limit: int = 1 << 20):
    """One CPU thread for a small fit: there, each of the hundreds of tiny steps costs more in
    thread hand-offs than in arithmetic (tens of times more on a busy machine)."""
    threads = torch.get_num_threads()
    small = x.device.type == "cpu" and x.numel() < limit and threads > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(threads)
