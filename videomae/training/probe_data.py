"""The frozen probes' data: the fine-tuning datamodule with the probes' own splits and views.

Splits. The heads train on the training split; they are chosen on a *selection* split and
reported on the *evaluation* split (`probe.select`):
- `val`: the validation split chooses, the test split reports (a dataset with a separate test list);
- `holdout`: `probe.holdout` of each class's training videos are held out to choose (they are not
  trained on); the evaluation split (test, else val) reports;
- `eval`: the best head on the evaluation split itself, as V-JEPA 2 reports (a selection on the
  split it reports, and named so in the output);
- `auto`: `val` when the dataset has a separate test split, else `eval`.

Views. Training: `probe.clips` random clips, one from each equal part of the video
(SegmentClipDataset), each with the protocol's augmentation (random resized crop, flip where the
dataset allows it, random erasing; no RandAugment). Selection: the `clips` evenly spaced clips,
centre crop. Evaluation: `probe.temporal_views` x `data.test_crops` views, each of `clips`
clips (MultiViewDataset with clips x temporal_views clips, clip-major: view v takes every
temporal_views-th clip from v, so every view spans the whole video).
"""

import random

from videomae.data.datamodule import VideoDataModule
from videomae.data.dataset import MultiViewDataset
from videomae.data.segments import SegmentClipDataset
from videomae.data.settings import first_per_class
from videomae.data.transforms import FinetuneTransform
from videomae.data.video import decode_short_side
from videomae.errors import ConfigError

SELECT = ("auto", "val", "holdout", "eval")


def hold_out(samples: list[tuple[str, int]], fraction: float, seed: int):
    """(kept, held out): `fraction` of each class's videos (at least one, and one left), drawn
    with `seed`."""
    by_class: dict[int, list[tuple[str, int]]] = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    rng = random.Random(seed)
    held: set[tuple[str, int]] = set()
    for videos in by_class.values():
        if len(videos) < 2:
            continue
        n = min(max(1, round(fraction * len(videos))), len(videos) - 1)
        held.update(rng.sample(videos, n))
    return [s for s in samples if s not in held], [s for s in samples if s in held]


class ProbeDataModule(VideoDataModule):
    """`VideoDataModule(mode="finetune")` plus `clips`, `temporal_views`, `select`, `holdout`.
    `stage_split` says which split the test loader serves: eval (default), selection or train
    (the kNN probe embeds the training split through it: selection views, no augmentation)."""

    def __init__(self, clips: int = 1, temporal_views: int = 1, select: str = "auto",
                 holdout: float = 0.1, mode: str = "finetune", **data):  # fmt: skip
        super().__init__(mode=mode, **data)  # labeled: the fine-tuning datasets
        if select not in SELECT:
            raise ConfigError(f"probe.select={select!r} is not one of {', '.join(SELECT)}")
        if not 0 < holdout < 1:
            raise ConfigError(f"probe.holdout={holdout!r}: a fraction of the training videos, in (0, 1)")
        self.clips, self.temporal_views = int(clips), int(temporal_views)
        self.select, self.holdout = select, float(holdout)
        self.stage_split = "eval"
        self.plan: dict | None = None

    def make_plan(self) -> dict:
        """The splits as the selection rule makes them: train, selection (or None), eval samples."""
        if self.index is None:
            self.index = self.load_index()
        splits = self.index.splits
        train, val, test = splits["train"], splits.get("val") or [], splits.get("test") or []
        separate_test = bool(test) and test is not val and test != val
        rule = self.select if self.select != "auto" else ("val" if separate_test else "eval")
        labeled = [s for s in train if s[1] >= 0]
        if len(labeled) < len(train):
            raise ConfigError(
                f"data.root={self.root}: {len(train) - len(labeled)} training videos have no label; "
                "a probe needs labeled training videos"
            )
        evaluation = test or val
        if not evaluation:
            raise ConfigError(f"data.root={self.root}: no validation or test split to evaluate on")
        if rule == "val":
            if not separate_test or not val:
                raise ConfigError(
                    "probe.select=val needs a validation split and a separate test split; this "
                    "dataset has " + ("no validation split" if not val else "no separate test split")
                    + " (use probe.select=holdout or eval)"
                )  # fmt: skip
            selection, split_names = val, ("val", "test")
        elif rule == "holdout":
            train, selection = hold_out(train, self.holdout, self.seed)
            split_names = (f"holdout {self.holdout:g} of train", "test" if test else "val")
        else:
            name = "test" if test else "val"
            selection, split_names = None, (f"{name} (the evaluation split)", name)
        if self.train_per_class is not None:  # few-shot: the first N of each class (data.train_per_class)
            train = first_per_class(train, self.train_per_class)
        self.plan = {"rule": rule, "train": train, "selection": selection, "eval": evaluation,
                     "selection_split": split_names[0], "eval_split": split_names[1]}  # fmt: skip
        return self.plan

    def _plan(self) -> dict:
        return self.plan if self.plan is not None else self.make_plan()

    # --- datasets -----------------------------------------------------------------------------

    def train_dataset(self) -> SegmentClipDataset:
        aug = self.augment
        transform = FinetuneTransform(
            self.input_size, crop_scale=aug["crop_scale"], crop_ratio=aug["crop_ratio"], flip=self.flip,
            rand_augment=aug["rand_augment"], erase_prob=float(aug["erase_prob"]),
        )  # fmt: skip
        return SegmentClipDataset(
            self._plan()["train"],
            self._sampler(self.sampling),
            transform,
            decoder=self._decoder(),
            short_side=self.decode_short_side or decode_short_side(self.input_size, self.scales),
            size_mode=self.sampling_mode,
            num_segments=self.clips,
        )

    def views_dataset(self, samples, temporal_views: int, crops: int) -> MultiViewDataset:
        return MultiViewDataset(
            samples,
            self._sampler(self.sampling),
            self.input_size,
            num_clips=self.clips * temporal_views,
            num_crops=crops,
            decoder=self._decoder(),
            size_mode=self.sampling_mode,
        )

    def val_dataset(self) -> MultiViewDataset | None:  # type: ignore[override]  # views, not clips
        selection = self._plan()["selection"]
        return self.views_dataset(selection, 1, 1) if selection else None

    def test_dataset(self) -> MultiViewDataset | None:
        plan = self._plan()
        if self.stage_split == "eval":
            return self.views_dataset(plan["eval"], self.temporal_views, self.test_crops)
        samples = plan["train"] if self.stage_split == "train" else plan["selection"]
        return self.views_dataset(samples, 1, 1) if samples else None

    def val_dataloader(self):
        dataset = getattr(self, "val_set", None)
        return self._loader(dataset, self.test_batch_size, train=False) if dataset is not None else []
