"""The data benchmark's timing: clips per second of a dataset through a DataLoader."""

import random
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def _clips_in(batch) -> int:
    if isinstance(batch, dict) and "crops" in batch:  # data.device_transforms: clips still to make
        return batch["crops"].shape[0] * batch["crops"].shape[1]
    if isinstance(batch, dict):
        video = batch["video"]
        return video.shape[0] * (video.shape[1] if video.ndim == 6 else 1)
    return batch[0].shape[0]


class _Cycle(Dataset):
    """Repeats a dataset to `length` items so a timed run never runs out."""

    def __init__(self, dataset, length):
        self.dataset, self.length = dataset, length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return self.dataset[index % len(self.dataset)]


def _seed_worker(worker: int) -> None:
    random.seed(1000 + worker)
    np.random.seed(1000 + worker)


def measure(
    dataset, batch_size: int, workers: int, seconds: float, warmup_batches: int, collate_fn=None
) -> tuple[int, float]:
    """(clips, seconds) over a timed window; workers=0 loads in this process on one thread."""
    threads = torch.get_num_threads()
    if workers == 0:
        torch.set_num_threads(1)  # one core, as in a loader worker
    loader = DataLoader(
        _Cycle(dataset, 10**7),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        worker_init_fn=_seed_worker,
        collate_fn=collate_fn,
    )
    it = iter(loader)
    for _ in range(warmup_batches):
        next(it)
    clips, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        clips += _clips_in(next(it))
    elapsed = time.perf_counter() - start
    del it
    torch.set_num_threads(threads)
    return clips, elapsed
