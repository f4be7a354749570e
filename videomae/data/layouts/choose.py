"""Choosing the reader: our `path label` lists when they are there, else the official layout of the
dataset, else a plain folder of videos."""

import os

from videomae.data.annotations import AnnotationError, is_path_label_list, read_list
from videomae.data.layouts.common import DatasetIndex, LayoutNotFound, read_lines
from videomae.data.layouts.readers import READERS
from videomae.utils.errors import ConfigError


def _read_classes(path: str) -> list[str] | None:
    """classes.txt: `index name` lines, as prepare_dataset writes them."""
    if not os.path.isfile(path):
        return None
    names = {}
    for number, line in read_lines(path):
        parts = line.split(" ", 1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}:{number}: expected 'index name', got {line[:120]!r}")
        names[int(parts[0])] = parts[1]
    return [names.get(i, str(i)) for i in range(max(names) + 1)] if names else None


def load_index(
    name: str,
    root: str,
    layout: str = "auto",
    split: int = 1,
    train_list: str = "train.csv",
    val_list: str | None = "val.csv",
    test_list: str | None = None,
    num_classes: int | None = None,
) -> DatasetIndex:
    """The dataset under `root`: our `path label` lists when `train_list` is there (layout auto or
    list), else the official layout of `name` (ucf101, hmdb51, ssv2, k400), or any folder of
    videos (`name` folder or layout folder)."""
    if layout not in ("auto", "list", "official", "folder"):
        raise ConfigError(f"data.layout={layout!r} is not one of auto, list, official, folder")
    list_path = os.path.join(root, train_list)
    owns_list = READERS[name].owns_list if name in READERS else None
    use_list = layout == "list" or (
        layout == "auto"
        and name != "folder"
        and os.path.isfile(list_path)
        and not (owns_list is not None and owns_list(list_path))
        and is_path_label_list(list_path)
    )
    if use_list:
        if not os.path.isfile(list_path):
            raise ConfigError(f"data.root={root} has no {train_list} (data.layout=list)")
        splits = {"train": read_list(list_path, num_classes=num_classes)}
        val_path = os.path.join(root, val_list) if val_list else None
        splits["val"] = (
            read_list(val_path, num_classes=num_classes) if val_path and os.path.isfile(val_path) else []
        )
        test_path = os.path.join(root, test_list) if test_list else None
        if test_path and not os.path.isfile(test_path):
            raise ConfigError(f"data.test_list={test_list}: {test_path} does not exist")
        splits["test"] = read_list(test_path, num_classes=num_classes) if test_path else splits["val"]
        classes = _read_classes(os.path.join(root, "classes.txt"))
        index = DatasetIndex(splits, classes, source=list_path)
    elif name == "folder" or layout == "folder":
        index = READERS["folder"].read(root, split)
    elif name in READERS and READERS[name].official:
        try:
            index = READERS[name].read(root, split)
        except LayoutNotFound as err:
            raise ConfigError(
                f"data.root={root} has neither {train_list} ('path label' lines, see "
                f"scripts/prepare_dataset.py) nor the official {name} layout ({err})"
            ) from None
    else:
        raise ConfigError(
            f"data.root={root} has no {train_list}: expected a list of 'path label' lines there "
            f"(set data.train_list to use another file name)"
        )
    if num_classes is not None and index.classes is not None and len(index.classes) > num_classes:
        raise ConfigError(
            f"data.num_classes={num_classes} but {index.source} defines {len(index.classes)} classes"
        )
    return index
