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

from videomae.data.config import DataConfig
from videomae.data.datamodule import LabeledDataModule
from videomae.data.dataset import MultiViewDataset
from videomae.data.factory import first_per_class
from videomae.data.segments import SegmentClipDataset
from videomae.training.probe_protocol import ProbeProtocolConfig
from videomae.utils.errors import ConfigError


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


class ProbeDataModule(LabeledDataModule):
    """The fine-tuning datamodule (labeled) plus the protocol's `clips`, `temporal_views`, `select`
    and `holdout` (checked where the settings are built). `stage_split` says which split the test
    loader serves: eval (default), selection or train (the kNN probe embeds the training split
    through it: selection views, no augmentation)."""

    def __init__(self, config: DataConfig, seed: int, protocol: ProbeProtocolConfig):
        super().__init__(config, "finetune", seed)
        self.clips, self.temporal_views = protocol.clips, protocol.temporal_views
        self.select, self.holdout = protocol.select, float(protocol.holdout)
        self.stage_split = "eval"
        self.plan: dict | None = None

    def make_plan(self) -> dict:
        """The splits as the selection rule makes them: train, selection (or None), eval samples."""
        datasets = self.load()
        train, val, test = datasets.split("train"), datasets.split("val"), datasets.split("test")
        separate_test = bool(test) and test is not val and test != val
        rule = self.select if self.select != "auto" else ("val" if separate_test else "eval")
        labeled = [s for s in train if s[1] >= 0]
        if len(labeled) < len(train):
            raise ConfigError(
                f"data.root={self.config.root_dir}: {len(train) - len(labeled)} training videos have no "
                "label; a probe needs labeled training videos"
            )
        evaluation = test or val
        if not evaluation:
            raise ConfigError(f"data.root={self.config.root_dir}: no validation or test split to evaluate on")
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
        if self.config.train_per_class is not None:  # few-shot: the first N of each class
            train = first_per_class(train, self.config.train_per_class)
        self.plan = {"rule": rule, "train": train, "selection": selection, "eval": evaluation,
                     "selection_split": split_names[0], "eval_split": split_names[1]}  # fmt: skip
        return self.plan

    def _plan(self) -> dict:
        return self.plan if self.plan is not None else self.make_plan()

    # --- datasets -----------------------------------------------------------------------------

    def views_dataset(self, samples, temporal_views: int, crops: int) -> MultiViewDataset:
        return self.load().views(samples, self.clips * temporal_views, crops)

    def validation_dataset(self) -> MultiViewDataset | None:
        selection = self._plan()["selection"]
        return self.views_dataset(selection, 1, 1) if selection else None

    def test_dataset(self) -> MultiViewDataset | None:
        plan = self._plan()
        if self.stage_split == "eval":
            return self.views_dataset(plan["eval"], self.temporal_views, self.config.test_crops)
        samples = plan["train"] if self.stage_split == "train" else plan["selection"]
        return self.views_dataset(samples, 1, 1) if samples else None

    @property
    def val_batch_size(self) -> int:
        return self.test_batch_size

    def train_dataset(self) -> SegmentClipDataset:
        return self.load().segments(self._plan()["train"], self.clips)
