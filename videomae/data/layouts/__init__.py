"""Datasets as they are downloaded: the official annotation layouts, and plain folders of videos.

Each reader returns a `DatasetIndex`: (path, label) lists per split ("train", "val", "test") and
the class names; `READERS` (layouts/readers.py) is their one table, an entry per dataset. Labels
are 0-based; -1 marks an unlabeled video (a flat folder). Videos that are listed but missing stay
in the index: the loader skips them (and counts them), and `scripts/prepare_dataset.py` reports
them.
"""

from videomae.data.layouts.choose import load_index
from videomae.data.layouts.common import (
    SPLITS,
    VIDEO_EXTENSIONS,
    DatasetIndex,
    LayoutNotFound,
    is_video,
)
from videomae.data.layouts.folders import folder
from videomae.data.layouts.hmdb import hmdb51
from videomae.data.layouts.kinetics import is_k400_csv, k400
from videomae.data.layouts.readers import OFFICIAL, READERS, Reader
from videomae.data.layouts.something import ssv2
from videomae.data.layouts.ucf import ucf101

__all__ = [
    "OFFICIAL",
    "READERS",
    "SPLITS",
    "VIDEO_EXTENSIONS",
    "DatasetIndex",
    "LayoutNotFound",
    "Reader",
    "folder",
    "hmdb51",
    "is_k400_csv",
    "is_video",
    "k400",
    "load_index",
    "ssv2",
    "ucf101",
]
