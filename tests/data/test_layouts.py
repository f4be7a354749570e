"""Annotation formats: our lists, each official layout, folders, and scripts/prepare_dataset.py."""

import os
import sys
import threading

import pytest
from helpers import (
    BUILDERS,
    HMDB_CLASSES,
    K400_CLASSES,
    REPO,
    SSV2_TEMPLATES,
    UCF_CLASSES,
    build_k400,
    build_ucf101,
    place,
    run_command,
)

from videomae.data.annotations import AnnotationError, read_list
from videomae.data.layouts import READERS, DatasetIndex, Reader, folder, load_index
from videomae.data.prepare import prepare
from videomae.utils.errors import ConfigError


def labels_by_name(samples):
    return {os.path.basename(p): label for p, label in samples}


# --- our lists ----------------------------------------------------------------------------------


def test_read_list_formats(tmp_path):
    (tmp_path / "l.csv").write_text("a.mp4 3\nsub dir/b c.mp4 0 -1\n\n/abs/c.mp4 1\n")
    samples = read_list(str(tmp_path / "l.csv"))
    assert samples == [
        (str(tmp_path / "a.mp4"), 3),
        (str(tmp_path / "sub dir/b c.mp4"), 0),
        ("/abs/c.mp4", 1),
    ]


@pytest.mark.parametrize("line", ["a.mp4", "a.mp4 x", "7"])
def test_read_list_bad_line_names_file_and_line(tmp_path, line):
    path = tmp_path / "l.csv"
    path.write_text(f"ok.mp4 1\n{line}\n")
    with pytest.raises(AnnotationError, match=rf"{path}:2: expected 'path label'"):
        read_list(str(path))


def test_read_list_label_outside_num_classes(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("a.mp4 1\nb.mp4 0\nc.mp4 5\n")
    with pytest.raises(AnnotationError, match=rf"{path}:3: label 5 is outside 0..4 \(data.num_classes=5\)"):
        read_list(str(path), num_classes=5)
    assert len(read_list(str(path), num_classes=6)) == 3


# --- official layouts -----------------------------------------------------------------------------


def test_ucf101_layout_and_split(tmp_path, video_bank):
    build_ucf101(str(tmp_path), video_bank)
    index = load_index("ucf101", str(tmp_path), split=1, num_classes=101)
    assert index.classes == list(UCF_CLASSES)
    train = labels_by_name(index.splits["train"])
    assert len(train) == 6 and len(index.splits["val"]) == 3 and index.splits["test"] == index.splits["val"]
    # test lists carry no label: it comes from the class folder, case-insensitively (HandStand/Handstand)
    val = labels_by_name(index.splits["val"])
    assert val["v_HandStandPushups_g03_c01.avi"] == 1 and val["v_Basketball_g03_c01.avi"] == 2
    assert all(os.path.isfile(p) for p, _ in index.splits["train"])
    assert all("/UCF-101/" in p for p, _ in index.splits["train"])
    index2 = load_index("ucf101", str(tmp_path), split=2)
    assert len(index2.splits["train"]) == 3 and len(index2.splits["val"]) == 6
    with pytest.raises(ConfigError, match="data.split=3: .*trainlist03.txt does not exist"):
        load_index("ucf101", str(tmp_path), split=3)
    with pytest.raises(ConfigError, match="data.num_classes=2 but .* defines 3 classes"):
        load_index("ucf101", str(tmp_path), num_classes=2)


def test_hmdb51_layout(tmp_path, video_bank):
    BUILDERS["hmdb51"](str(tmp_path), video_bank)
    index = load_index("hmdb51", str(tmp_path), split=1)
    assert index.classes == sorted(HMDB_CLASSES)
    assert len(index.splits["train"]) == 3 and len(index.splits["val"]) == 3  # id 0 = unused
    assert {label for _, label in index.splits["train"]} == {0, 1, 2}
    assert all(os.path.isfile(p) for p, _ in index.splits["train"] + index.splits["val"])
    index2 = load_index("hmdb51", str(tmp_path), split=2)
    assert len(index2.splits["train"]) == 6 and len(index2.splits["val"]) == 3


def test_ssv2_layout(tmp_path, video_bank):
    BUILDERS["ssv2"](str(tmp_path), video_bank)
    index = load_index("ssv2", str(tmp_path), num_classes=174)
    assert index.classes == list(SSV2_TEMPLATES)
    assert [label for _, label in index.splits["train"]] == [0, 1, 2, 0, 1, 2]
    assert index.splits["train"][0][0].endswith("20bn-something-something-v2/1000.webm")
    assert len(index.splits["val"]) == 3


def test_k400_layout(tmp_path, video_bank):
    build_k400(str(tmp_path), video_bank)
    index = load_index("k400", str(tmp_path), num_classes=400)
    assert index.classes == sorted(K400_CLASSES)
    assert len(index.splits["train"]) == 6 and len(index.splits["val"]) == 3
    # train videos sit in class folders (with spaces), val videos flat: both are found
    assert all(os.path.isfile(p) for p, _ in index.splits["train"] + index.splits["val"])
    assert any("/air drumming/" in p for p, _ in index.splits["train"])
    assert os.path.basename(index.splits["train"][1][0]) == "trVid001xY__000010_000020.mp4"


def test_k400_clip_listed_under_two_labels_takes_each_class_folders_file(tmp_path, video_bank):
    """The same youtube_id and times under two labels: each row gets the file in its label's
    folder (the first in sorted order went to both rows, and the other file was never read)."""
    build_k400(str(tmp_path), video_bank)
    with open(tmp_path / "annotations" / "train.csv", "a", newline="") as f:
        f.write("zumba,dupId,0,10,train\nair drumming,dupId,0,10,train\n")
    for label in ("zumba", "air_drumming"):  # folders with underscores for spaces too
        place(video_bank, "mp4", str(tmp_path / "train" / label / "dupId_000000_000010.mp4"))
    index = load_index("k400", str(tmp_path))
    rows = [(p, index.classes[c]) for p, c in index.splits["train"] if "dupId" in p]
    assert [(os.path.basename(os.path.dirname(p)), c) for p, c in rows] == [
        ("zumba", "zumba"),
        ("air_drumming", "air drumming"),
    ]


def test_k400_csv_at_root_is_not_mistaken_for_our_list(tmp_path, video_bank):
    build_k400(str(tmp_path), video_bank)
    os.replace(tmp_path / "annotations" / "train.csv", tmp_path / "train.csv")
    index = load_index("k400", str(tmp_path))
    assert len(index.splits["train"]) == 6


@pytest.mark.parametrize(
    "dataset, file, content, where",
    [
        ("ucf101", "ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\nnot a class line\n", ":2:"),
        (
            "ucf101",
            "ucfTrainTestlist/trainlist01.txt",
            "ApplyEyeMakeup/v_x.avi 1\nApplyEyeMakeup/v_y.avi one\n",
            ":2:",
        ),
        ("ucf101", "ucfTrainTestlist/testlist01.txt", "ApplyEyeMakeup/v_x.avi\nNoSuchClass/v_y.avi\n", ":2:"),
        ("hmdb51", "testTrainMulti_7030_splits/catch_test_split1.txt", "a.avi 1\nb.avi 7\n", ":2:"),
        (
            "ssv2",
            "labels/train.json",
            '[\n{"id": "1", "template": "Holding [something]"},\n{"id": "2"}\n]',
            ":3:",
        ),
        (
            "ssv2",
            "labels/validation.json",
            '[\n{"id": "1", "template": "Holding [something]"},\n{"id": "2",',
            ":3:",
        ),
        (
            "k400",
            "annotations/train.csv",
            "label,youtube_id,time_start,time_end\nzumba,abc,1,11\nzumba,abd,x,3\n",
            ":3:",
        ),
        (
            "k400",
            "annotations/validate.csv",
            "label,youtube_id,time_start,time_end\nnew class,abc,1,11\n",
            ":2:",
        ),
    ],
)
def test_official_layout_bad_line_names_file_and_line(tmp_path, video_bank, dataset, file, content, where):
    BUILDERS[dataset](str(tmp_path), video_bank)
    (tmp_path / file).write_text(content)
    with pytest.raises(AnnotationError, match=f"{tmp_path / file}{where}"):
        load_index(dataset, str(tmp_path))


def test_missing_layout_is_one_config_error(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    for name in ("ucf101", "hmdb51", "ssv2", "k400"):
        with pytest.raises(
            ConfigError, match=f"data.root={tmp_path} has neither train.csv .* official {name}"
        ):
            load_index(name, str(tmp_path))


def test_our_lists_take_precedence(tmp_path, video_bank):
    build_ucf101(str(tmp_path), video_bank)
    place(video_bank, "mp4", str(tmp_path / "v.mp4"))
    (tmp_path / "train.csv").write_text("v.mp4 0 -1\n")
    index = load_index("ucf101", str(tmp_path))
    assert index.splits["train"] == [(str(tmp_path / "v.mp4"), 0)]
    assert len(load_index("ucf101", str(tmp_path), layout="official").splits["train"]) == 6


def test_a_dataset_is_added_by_one_registration(tmp_path, monkeypatch):
    index = DatasetIndex({"train": [(str(tmp_path / "a.mp4"), 0)], "val": [], "test": []}, ["a"])
    monkeypatch.setitem(READERS, "toy", Reader(lambda root, split: index))
    assert load_index("toy", str(tmp_path)) is index
    assert load_index("toy", str(tmp_path), layout="official") is index


# --- folders ------------------------------------------------------------------------------------


def test_folder_class_subfolders_are_labels(tmp_path, video_bank):
    for cls, n in (("walk", 2), ("run", 1)):
        for k in range(n):
            place(video_bank, "mp4", str(tmp_path / cls / "deeper" / f"{k}.mp4"))
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "empty_dir").mkdir()
    index = folder(str(tmp_path))
    assert index.classes == ["run", "walk"]
    assert sorted(label for _, label in index.splits["train"]) == [0, 1, 1]


def test_folder_flat_is_unlabeled_and_splits(tmp_path, video_bank):
    place(video_bank, "mp4", str(tmp_path / "flat" / "a.MP4"))
    place(video_bank, "avi", str(tmp_path / "flat" / "b.avi"))
    index = folder(str(tmp_path / "flat"))
    assert index.classes is None and [label for _, label in index.splits["train"]] == [-1, -1]
    for split in ("train", "val"):
        for cls in ("a", "b"):
            place(video_bank, "mp4", str(tmp_path / "split" / split / cls / "v.mp4"))
    index = folder(str(tmp_path / "split"))
    assert index.classes == ["a", "b"] and len(index.splits["train"]) == 2 and len(index.splits["val"]) == 2
    (tmp_path / "none").mkdir()
    with pytest.raises(ConfigError, match=f"data.root={tmp_path / 'none'} holds no videos"):
        folder(str(tmp_path / "none"))


# --- prepare_dataset ------------------------------------------------------------------------------


def test_prepare_reports_missing_and_unreadable(tmp_path, video_bank, capsys):
    build_ucf101(str(tmp_path), video_bank)
    broken = tmp_path / "UCF-101" / "Basketball" / "v_Basketball_g01_c01.avi"
    place(video_bank, "truncated", str(broken))
    missing = tmp_path / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g02_c01.avi"
    os.remove(missing)
    summary = prepare("ucf101", str(tmp_path), out=str(tmp_path / "lists"), check="decode", workers=1)
    out = capsys.readouterr().out
    assert summary["bad"] == {str(missing): "missing", str(broken): summary["bad"][str(broken)]}
    assert f"{missing}: missing" in out and str(broken) in out and "2 listed videos" in out
    report = (tmp_path / "lists" / "prepare_report.txt").read_text()
    assert str(missing) in report and str(broken) in report
    train = read_list(str(tmp_path / "lists" / "train.csv"), num_classes=3)
    assert len(train) == 4 and str(broken) not in dict(train)
    assert (tmp_path / "lists" / "classes.txt").read_text().splitlines()[1] == "1 HandstandPushups"
    # the written lists are what the datamodule reads
    index = load_index("ucf101", str(tmp_path / "lists"))
    assert index.classes == list(UCF_CLASSES) and len(index.splits["val"]) == 3


def test_prepare_script_keeps_official_csv(tmp_path, video_bank):
    build_k400(str(tmp_path), video_bank)
    os.replace(tmp_path / "annotations" / "train.csv", tmp_path / "train.csv")
    with pytest.raises(
        ConfigError, match="train.csv exists and is not a 'path label' list; choose another --out"
    ):
        prepare("k400", str(tmp_path), check="exists")
    cmd = [
        sys.executable,
        os.path.join(REPO, "scripts", "prepare_dataset.py"),
        "k400",
        "--root",
        str(tmp_path),
    ]
    result = run_command(cmd + ["--out", str(tmp_path / "lists")], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "all listed videos are readable" in result.stdout
    assert len(read_list(str(tmp_path / "lists" / "train.csv"))) == 6


def test_list_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("a.mp4 1\nb.mp4 x\n")
    with pytest.raises(AnnotationError, match=r"train.csv:2: expected 'path label'"):
        read_list(str(bad))
    ok = tmp_path / "pre.csv"
    ok.write_text("dir with space/a.mp4 0 -1\nb.mp4 3\n")
    assert read_list(str(ok)) == [(str(tmp_path / "dir with space/a.mp4"), 0), (str(tmp_path / "b.mp4"), 3)]


# --- hostile inputs (issue 24) -------------------------------------------------------------------


def test_folder_keeps_videos_that_share_a_name(tmp_path, video_bank):
    for rel in ("cls/day1/clip.mp4", "cls/day2/clip.mp4", "cls/clip.webm", "other/clip.mp4"):
        place(video_bank, "webm" if rel.endswith(".webm") else "mp4", str(tmp_path / rel))
    index = load_index("folder", str(tmp_path))
    samples = [(os.path.relpath(p, tmp_path), label) for p, label in index.splits["train"]]
    assert samples == [
        ("cls/clip.webm", 0),
        ("cls/day1/clip.mp4", 0),
        ("cls/day2/clip.mp4", 0),
        ("other/clip.mp4", 1),
    ]
    # the README's way back to one video per name: the written list, less the extra lines, as data.layout=list
    prepare("folder", str(tmp_path), check="exists")
    lines = (tmp_path / "train.csv").read_text().splitlines()
    (tmp_path / "train.csv").write_text("".join(f"{line}\n" for line in lines if "day" not in line))
    index = load_index("folder", str(tmp_path), layout="list")
    assert [os.path.relpath(p, tmp_path) for p, _ in index.splits["train"]] == [
        "cls/clip.webm",
        "other/clip.mp4",
    ]


def test_folder_symlink_loop_is_walked_once_and_said(tmp_path, video_bank):
    for rel in ("a/x.mp4", "a/deeper/y.mp4", "b/z.mp4"):
        place(video_bank, "mp4", str(tmp_path / rel))
    os.symlink("..", tmp_path / "a" / "deeper" / "back")  # a/deeper/back/deeper/back/...
    os.symlink("..", tmp_path / "b" / "up")  # b/up/b/up/...: with the one above, 2^40 paths
    found: list = []
    walker = threading.Thread(target=lambda: found.append(folder(str(tmp_path))), daemon=True)
    walker.start()
    walker.join(60)
    assert found, "indexing a folder with symlink loops did not end within 60 s"
    index = found[0]
    samples = sorted(os.path.relpath(p, tmp_path) for p, _ in index.splits["train"])
    assert samples == ["a/deeper/y.mp4", "a/x.mp4", "b/z.mp4"]
    assert any("a/deeper/back" in note and "not followed again" in note for note in index.notes)


def test_prepare_keeps_a_hand_made_classes_txt(tmp_path, video_bank):
    for cls in ("run", "walk"):
        place(video_bank, "mp4", str(tmp_path / cls / "v.mp4"))
    mine = "0 walk\n1 run\n"  # the user's own order
    (tmp_path / "classes.txt").write_text(mine)
    with pytest.raises(
        ConfigError, match="classes.txt exists and differs from the 2 class names .* left as it is"
    ):
        prepare("folder", str(tmp_path), check="exists")
    assert (tmp_path / "classes.txt").read_text() == mine and not (tmp_path / "train.csv").exists()
    (tmp_path / "classes.txt").write_text("0 run\n1 walk\n")  # what prepare writes: a rerun is fine
    prepare("folder", str(tmp_path), check="exists")
    prepare("folder", str(tmp_path), check="exists")
    assert (tmp_path / "classes.txt").read_text() == "0 run\n1 walk\n"


def test_prepare_names_only_the_files_it_wrote(tmp_path, video_bank, capsys):
    place(video_bank, "mp4", str(tmp_path / "a.mp4"))  # a flat folder: unlabeled, no val or test
    prepare("folder", str(tmp_path), check="exists")
    out = capsys.readouterr().out
    assert f"-> {tmp_path / 'train.csv'}" in out and (tmp_path / "train.csv").is_file()
    assert "val.csv" not in out.replace("no val.csv written", "") and not (tmp_path / "val.csv").exists()
    assert "  val: no videos, no val.csv written" in out and "  test: no videos, no test.csv written" in out
    (tmp_path / "val.csv").write_text("a.mp4 0\n")  # not ours to delete, but said: the loader reads it
    prepare("folder", str(tmp_path), check="exists")
    assert (
        f"  val: no videos, nothing written; warning: the {tmp_path / 'val.csv'} already there"
        in capsys.readouterr().out
    )
    with pytest.raises(ConfigError, match=r"--out .*train.csv/lists: cannot write there \(Not a directory\)"):
        prepare("folder", str(tmp_path), out=str(tmp_path / "train.csv" / "lists"), check="exists")
