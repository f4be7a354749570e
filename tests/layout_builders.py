"""Tiny datasets in each official layout, built from the session's video bank.

The four layouts use different file names, so they can share one root (the end-to-end test
trains on all four from the same directory).
"""

import csv
import json
import os

from conftest import place

UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "Basketball")
HMDB_CLASSES = ("brush_hair", "cartwheel", "catch")
SSV2_TEMPLATES = (
    "Holding something",
    "Pushing something from left to right",
    "Putting something on a surface",
)
K400_CLASSES = ("abseiling", "air drumming", "zumba")


def build_ucf101(root: str, bank: dict, kinds=("avi", "mp4", "short")) -> dict:
    """UCF-101/<Class>/v_<Class>_gNN_c01.avi + ucfTrainTestlist/ (CRLF line ends, as shipped).
    Split 1 trains on groups 1-2 and tests on group 3; split 2 the other way round. The
    HandstandPushups class keeps the official file-name spelling `v_HandStandPushups_...`."""
    ann = os.path.join(root, "ucfTrainTestlist")
    os.makedirs(ann, exist_ok=True)
    with open(os.path.join(ann, "classInd.txt"), "w", newline="") as f:
        f.writelines(f"{i} {c}\r\n" for i, c in enumerate(UCF_CLASSES, start=1))
    videos = {}
    for ci, cls in enumerate(UCF_CLASSES):
        stem = "HandStandPushups" if cls == "HandstandPushups" else cls
        for g in (1, 2, 3):
            rel = f"{cls}/v_{stem}_g{g:02d}_c01.avi"
            place(bank, kinds[(ci + g) % len(kinds)], os.path.join(root, "UCF-101", rel))
            videos[rel] = ci
    train1 = [r for r in videos if "_g03_" not in r]
    test1 = [r for r in videos if "_g03_" in r]
    for split, train, test in ((1, train1, test1), (2, test1, train1)):
        with open(os.path.join(ann, f"trainlist{split:02d}.txt"), "w", newline="") as f:
            f.writelines(f"{r} {videos[r] + 1}\r\n" for r in train)
        with open(os.path.join(ann, f"testlist{split:02d}.txt"), "w", newline="") as f:
            f.writelines(f"{r}\r\n" for r in test)
    return {"train": len(train1), "val": len(test1)}


def build_hmdb51(root: str, bank: dict, kinds=("avi", "mp4", "short")) -> dict:
    """hmdb51/<class>/<video>.avi + testTrainMulti_7030_splits/<class>_test_split{1,2}.txt."""
    ann = os.path.join(root, "testTrainMulti_7030_splits")
    os.makedirs(ann, exist_ok=True)
    for ci, cls in enumerate(HMDB_CLASSES):
        names = [f"{cls}_video_{k}_u_cm_np1_fr_med_{k}.avi" for k in range(3)]
        for k, name in enumerate(names):
            place(bank, kinds[(ci + k) % len(kinds)], os.path.join(root, "hmdb51", cls, name))
        for split, ids in ((1, (1, 2, 0)), (2, (2, 1, 1))):
            with open(os.path.join(ann, f"{cls}_test_split{split}.txt"), "w") as f:
                f.writelines(f"{n} {i} \n" for n, i in zip(names, ids, strict=True))
    return {"train": 3, "val": 3}


def build_ssv2(root: str, bank: dict) -> dict:
    """labels/{labels,train,validation}.json + 20bn-something-something-v2/<id>.webm."""
    ann = os.path.join(root, "labels")
    os.makedirs(ann, exist_ok=True)
    with open(os.path.join(ann, "labels.json"), "w") as f:
        json.dump({t: str(i) for i, t in enumerate(SSV2_TEMPLATES)}, f, indent=1)
    splits = {"train": [], "validation": []}
    for k in range(9):
        template = SSV2_TEMPLATES[k % 3].replace("something", "[something]", 1)
        entry = {"id": str(1000 + k), "label": template.lower(), "template": template, "placeholders": ["x"]}
        splits["train" if k < 6 else "validation"].append(entry)
        place(bank, "webm", os.path.join(root, "20bn-something-something-v2", f"{1000 + k}.webm"))
    for name, entries in splits.items():
        with open(os.path.join(ann, f"{name}.json"), "w") as f:
            json.dump(entries, f, indent=1)
    return {"train": 6, "val": 3}


def k400_name(youtube_id: str, start: int) -> str:
    return f"{youtube_id}_{start:06d}_{start + 10:06d}.mp4"


def build_k400(root: str, bank: dict, kinds=("mp4", "mp4_b", "short")) -> dict:
    """annotations/{train,validate}.csv (official columns) + train/<label>/ (class folders, as
    the official downloader writes) and val/ (flat)."""
    ann = os.path.join(root, "annotations")
    os.makedirs(ann, exist_ok=True)
    counts = {}
    for split, csv_name, n in (("train", "train.csv", 6), ("val", "validate.csv", 3)):
        rows = []
        for k in range(n):
            label = K400_CLASSES[k % 3]
            youtube_id, start = f"{split[:2]}Vid{k:03d}xY_", 10 * k
            rows.append({"label": label, "youtube_id": youtube_id, "time_start": start,
                         "time_end": start + 10, "split": split})  # fmt: skip
            sub = os.path.join(split, label) if split == "train" else split
            place(bank, kinds[k % len(kinds)], os.path.join(root, sub, k400_name(youtube_id, start)))
        with open(os.path.join(ann, csv_name), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writeheader()
            writer.writerows(rows)
        counts[split] = n
    return counts


BUILDERS = {"ucf101": build_ucf101, "hmdb51": build_hmdb51, "ssv2": build_ssv2, "k400": build_k400}
