"""Training batches as a pure function of (seed, epoch, position in the epoch), for exact resume.

A killed or pre-empted run that resumes from a checkpoint sees exactly the batches, the
augmentations and the masks that the uninterrupted run saw: the order comes from (seed, epoch),
every item's augmentations from (seed, epoch, index) rather than from a worker's random stream,
and a run resumed mid-epoch skips the batches it already trained on (indices only, no decoding).
"""

import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler


def derive_seed(*key: int) -> int:
    """A well-mixed 63-bit seed for a tuple of integers: every seed a run derives (data order,
    augmentations, each training step's masks and drop path) comes from here."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything_from(*key: int) -> None:
    """Seed Python's, numpy's and torch's global generators from a tuple of integers."""
    seed = derive_seed(*key)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class SkippingBatchSampler(BatchSampler):
    """A BatchSampler that can drop the first `skip` batches of its next epoch, and that gives a
    distributed sampler inside it the epoch it was told (`epoch`)."""

    skip = 0
    epoch: int | None = None

    def __iter__(self):
        # This body runs at the first batch, not when the iterator is made: with num_workers=0,
        # after Lightning has set the sampler's epoch from its own counters (stale after a
        # mid-epoch resume). Set it again here, last.
        if self.epoch is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        batches = super().__iter__()
        skip, self.skip = self.skip, 0
        for _ in range(skip):
            next(batches, None)
        yield from batches


class ResumableLoader(DataLoader):
    """The training DataLoader, seeded by its position in the run.

    `batches_done()` returns how many batches the run has trained on (global step x gradient
    accumulation), which a restored checkpoint brings back exactly. Each new iterator starts at
    that position: epoch = done // len(self), skipping done % len(self) batches. Lightning's own
    epoch counters are not used: they can be stale while a fit restores a checkpoint. Lightning
    replaces the sampler with a DistributedSampler under DDP; its epoch is set here too.
    """

    def __init__(self, *args, seed: int = 0, batches_done: Callable[[], int] | None = None, **kwargs):
        kwargs.setdefault("generator", torch.Generator())
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.batches_done = batches_done or (lambda: 0)

    def __iter__(self):
        epoch, skip = divmod(self.batches_done(), max(len(self), 1))
        self.generator.manual_seed(derive_seed(self.seed, epoch))  # shuffle order, worker seeds
        # Under DDP and FSDP, Lightning's DistributedSampler sits in our batch sampler, with an epoch
        # from Lightning's counters, which are off after a resume.
        for sampler in (self.sampler, getattr(self.batch_sampler, "sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        cycle = getattr(self.dataset, "clip_cycle", 0)
        # per-item augmentation seeds; with a clip cycle, the same every `cycle` epochs
        self.dataset.epoch_seed = derive_seed(self.seed, epoch % cycle if cycle else epoch, 1)
        self.batch_sampler.skip = skip
        self.batch_sampler.epoch = epoch
        return super().__iter__()

    # The position comes from the restored global step; nothing else needs saving. Having these
    # tells Lightning that resuming mid-epoch is safe.
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def training_loader(
    dataset, batch_size: int, seed: int, batches_done: Callable[[], int], **loader_args
) -> ResumableLoader:
    """Batches that are a function of (seed, epoch, position): shuffled by a generator the loader
    seeds per epoch, the batches before `batches_done()` skipped without being read. Workers are
    not kept across epochs: each epoch's workers get that epoch's seeds."""
    generator = torch.Generator()
    sampler = RandomSampler(dataset, generator=generator)
    return ResumableLoader(
        dataset,
        batch_sampler=SkippingBatchSampler(sampler, batch_size, drop_last=len(dataset) > batch_size),
        generator=generator,
        seed=seed,
        batches_done=batches_done,
        collate_fn=dataset.collate_fn,
        **loader_args,
    )
