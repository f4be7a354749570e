"""What the online probe embeds: its `probe.*` settings, checked, and the fixed labeled subsets of
the training and validation lists, read so that a broken video is reported, never replaced."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from videomae.utils.config_fields import Settings, rule, setting
from videomae.utils.errors import ConfigError, DataError

KINDS = ("knn_linear", "attentive")
ENABLED = {"auto": "auto", "true": True, "false": False}


@dataclass(frozen=True, kw_only=True)
class ProbeConfig(Settings):
    """`probe.*` of pre-training: kNN and linear top-1 of the frozen encoder's features, see
    README "Online probe". A wrong value fails with one line naming the key, the value and what
    is allowed."""

    GROUP = "probe"
    # auto: on when the training list has labels (2+ classes) | true: required | false
    enabled: bool | str = setting("auto", checked=False)
    every_n_epochs: int = setting(10, low=1)  # and before the first step and at the end
    train_videos: int = setting(1000, low=1)  # labeled training videos (fixed, spread over classes)
    val_videos: int = setting(1000, low=1)  # the val split's, else every other training video
    knn_k: int = setting(20, low=1)  # cosine kNN, votes weighted by exp(similarity / temperature)
    knn_temperature: float = setting(0.07, low=0, low_open=True)
    linear_steps: int = setting(300, low=1)  # full-batch AdamW on standardised features
    linear_lr: float = setting(0.01, low=0, low_open=True)
    linear_weight_decay: float = setting(1e-4, low=0)
    batch_size: int = setting(16, low=1)  # videos per forward pass
    num_workers: int | None = rule(low=0)  # None: data.num_workers
    kind: str = setting("knn_linear", choices=KINDS)  # attentive: also the attentive probe (probe_attentive)
    attentive_epochs: int = setting(20, low=1)
    attentive_lr: float = setting(1e-3, low=0, low_open=True)
    attentive_weight_decay: float = setting(0.01, low=0)
    attentive_depth: int = setting(1, low=1)  # V-JEPA's one cross-attention block: short and cheap
    attentive_heads: int = setting(16, low=1)

    def check(self) -> None:
        if self.enabled != "auto" and not isinstance(self.enabled, bool):
            raise ConfigError(f"probe.enabled={self.enabled!r} is not one of auto, true, false")


def probe_settings(cfg: Mapping | None) -> ProbeConfig:
    """`probe.*` checked (see ProbeConfig), `enabled` given as text read as auto, true or false."""
    cfg = dict(cfg or {})
    enabled = cfg.get("enabled", "auto")
    if isinstance(enabled, str) and enabled.lower() in ENABLED:
        cfg["enabled"] = ENABLED[enabled.lower()]
    return ProbeConfig.from_dict(cfg, unknown="error")


def spread(positions: list[int], labels: list[int], count: int) -> list[int]:
    """`count` of `positions`, evenly spaced over them ordered by label (stable), so that every
    class gets its share whatever the list's order; all of them when there are fewer."""
    order = [p for _, p in sorted(zip(labels, positions, strict=True), key=lambda pair: pair[0])]
    if count >= len(order):
        return sorted(order)
    picks = np.unique(np.linspace(0, len(order) - 1, count).round().astype(int))
    return sorted(order[i] for i in picks)


def probe_subsets(
    splits: dict[str, list[tuple[str, int]]], train_videos: int, val_videos: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], str]:
    """(training subset, validation subset, where the validation videos come from).

    Only labeled videos (label >= 0) count. The validation subset comes from the `val` split (else
    `test`); a dataset with neither holds out every other labeled training video instead."""
    train = [(i, s) for i, s in enumerate(splits.get("train") or []) if s[1] >= 0]
    val, source = [], "val"
    for name in ("val", "test"):
        val = [(i, s) for i, s in enumerate(splits.get(name) or []) if s[1] >= 0]
        if val:
            source = name
            break
    if not val:
        by_label = sorted(train, key=lambda item: item[1][1])  # stable: list order within a class
        train, val, source = by_label[0::2], by_label[1::2], "train (held out)"

    def pick(items, count):
        chosen = spread(list(range(len(items))), [s[1] for _, s in items], count)
        return [items[i][1] for i in chosen]

    return pick(train, train_videos), pick(val, val_videos), source


def why_not_probed(
    splits: dict[str, list[tuple[str, int]]], train: list, val: list, train_videos: int
) -> str | None:
    """Why the chosen subsets cannot be probed (None when they can), in words that name the cause:
    the data (fewer than 2 labeled classes) or the setting (a subset too small to hold 2)."""
    pool = [s for s in splits.get("train") or [] if s[1] >= 0]
    classes = {label for _, label in pool}
    if len(classes) < 2:
        return (
            f"the training list has {len(pool)} labeled videos in {len(classes)} classes: the probe "
            "needs labeled videos of at least 2 classes"
        )
    if len({label for _, label in train}) < 2:
        everything = probe_subsets(splits, len(pool), 1)[0]
        if len({label for _, label in everything}) < 2:
            return (
                f"with no labeled val or test list, every other of the {len(pool)} labeled training "
                "videos is held out for validation, which leaves the rest 1 class: add a val list"
            )
        return (
            f"probe.train_videos={train_videos} picks {len(train)} of the {len(pool)} labeled training "
            f"videos, too few to hold 2 of their {len(classes)} classes: set probe.train_videos to at "
            f"least 2 ({len(classes)} or more gives every class a share)"
        )
    if not val:
        return "there are no labeled validation videos (add a labeled val or test list)"
    return None


class Readable(Dataset):
    """Items of `dataset` at `positions`; a video that cannot be read gives `video` None (the
    dataset raises at the first failure: a random replacement would count another video twice)."""

    def __init__(self, dataset, positions: list[int]):
        self.dataset = dataset
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> dict:
        position = self.positions[i]
        try:
            video = self.dataset[position]["video"]
        except DataError as err:
            return {"position": position, "video": None, "failed": str(err).splitlines()[-1].strip()}
        return {"position": position, "video": video, "failed": ""}


def collate(items: list[dict]) -> dict:
    readable = [item for item in items if item["video"] is not None]
    return {
        "video": default_collate([item["video"] for item in readable]) if readable else None,
        "position": torch.tensor([item["position"] for item in readable], dtype=torch.long),
        "failed": [item["failed"] for item in items if item["video"] is None],
    }
