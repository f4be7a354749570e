"""The dataset readers, one table: a dataset is added by one entry in READERS (its reader module
beside this one), and `load_index` and `scripts/prepare_dataset.py` both find it there."""

from collections.abc import Callable
from dataclasses import dataclass

from videomae.data.layouts.common import DatasetIndex
from videomae.data.layouts.folders import folder
from videomae.data.layouts.hmdb import hmdb51
from videomae.data.layouts.kinetics import is_k400_csv, k400
from videomae.data.layouts.something import ssv2
from videomae.data.layouts.ucf import ucf101


@dataclass(frozen=True)
class Reader:
    read: Callable[[str, int], DatasetIndex]  # (data.root, data.split) -> the index
    official: bool = True  # an official download's layout (else any folder of videos)
    # A file at data.train_list that is the layout's own annotation, not our `path label` list.
    owns_list: Callable[[str], bool] | None = None


READERS: dict[str, Reader] = {
    "ucf101": Reader(ucf101),
    "hmdb51": Reader(hmdb51),
    "ssv2": Reader(lambda root, split: ssv2(root)),
    "k400": Reader(lambda root, split: k400(root), owns_list=is_k400_csv),
    "folder": Reader(lambda root, split: folder(root), official=False),
}
OFFICIAL = tuple(name for name, reader in READERS.items() if reader.official)
