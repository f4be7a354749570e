"""What the tests share: the tiny model and clips, running a script as a user does, test videos
(and broken files), and tiny datasets in each official layout. Fixtures are in conftest.py."""

import csv
import json
import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import warm_start

from videomae.data.synthetic import SyntheticSpec, write_video
from videomae.models import VideoMAEClassifier, VideoMAEPretrain, create_classifier, create_pretrain_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny model and tiny clips: enough to run every code path in seconds on 2 CPU cores.
TINY_MODEL = dict(
    embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2
)
TINY_CLIP = dict(num_frames=4, img_size=32)


def tiny_model(num_classes: int | None = None, **overrides) -> VideoMAEPretrain | VideoMAEClassifier:
    """The tests' tiny model: TINY_MODEL on TINY_CLIP's clips, a pre-training model or (with
    `num_classes`) a classifier; `overrides`: constructor arguments over those."""
    config = {**TINY_MODEL, **TINY_CLIP, **overrides}
    if num_classes is None:
        return create_pretrain_model("vit_tiny", **config)
    return create_classifier("vit_tiny", num_classes, **config)


TINY_SYNTHETIC = SyntheticSpec(num_train_per_class=2, num_val_per_class=1, num_frames=16, size=64)


def tiny_overrides(data_root: str) -> list[str]:
    """Overrides that make `scripts/pretrain.py` run the demo pipeline at toy size. The demo's
    patch size (configs/model/demo.yaml) is set too, so that it stays when TINY's model=vit_tiny
    replaces the demo's model group."""
    spec = TINY_SYNTHETIC
    return [
        *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
        "model.patch_size=8",
        f"data.root={data_root}",
        "data.num_frames=4",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"data.synthetic.num_train_per_class={spec.num_train_per_class}",
        f"data.synthetic.num_val_per_class={spec.num_val_per_class}",
        f"data.synthetic.num_frames={spec.num_frames}",
        f"data.synthetic.size={spec.size}",
    ]


def run_script(
    script: str, *args: str, timeout: int = 300, tests_importable: bool = False, cold: bool = False
) -> subprocess.CompletedProcess:
    """Run a repository script in a new process, as a user would, and capture its output.
    `tests_importable`: the tests directory on the path of that process and its children (for a
    `_target_` such as rank_probe.RankProbe). `cold`: a new interpreter even where a warm one
    (`run_command`) would do."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    if tests_importable:
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "tests"), env.get("PYTHONPATH", "")])
    command = [sys.executable, os.path.join(REPO, "scripts", script), *args]
    return run_command(command, cwd=REPO, env=env, timeout=timeout, cold=cold)


def _warm(command: list) -> bool:
    """`python SCRIPT.py ...`, which a warm child of tests/warm_start.py runs as a new interpreter
    would (VIDEOMAE_TESTS_COLD=1: never)."""
    return (
        warm_start.warm_available()
        and len(command) > 1
        and command[0] == sys.executable
        and str(command[1]).endswith(".py")
        and os.path.isfile(command[1])
    )


def run_command(
    command: list, cwd=None, env: dict | None = None, timeout: float | None = None, cold: bool = False
) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True): in a warm child when the command
    runs a script, in a new interpreter otherwise (or when `cold`)."""
    if cold or not _warm(command):
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    cwd, env = os.fspath(cwd or os.getcwd()), dict(os.environ if env is None else env)
    return warm_start.run([os.fspath(a) for a in command[1:]], cwd=cwd, env=env, timeout=timeout)


def popen(
    command: list, cwd=None, env: dict | None = None, stdout=None, stderr=None, start_new_session=False
):
    """subprocess.Popen(command, ...): a warm child when the command runs a script and its output
    goes to a file or nowhere (a pipe needs subprocess.Popen)."""
    if not _warm(command) or subprocess.PIPE in (stdout, stderr):
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=start_new_session
        )
    cwd, env = os.fspath(cwd or os.getcwd()), dict(os.environ if env is None else env)
    argv = [os.fspath(a) for a in command[1:]]
    return warm_start.start(argv, cwd, env, stdout=stdout, stderr=stderr, new_session=start_new_session)


# Tiny model and clip for end-to-end runs of the real entrypoints.
TINY = [
    "model=vit_tiny",
    "model.depth=1",
    "model.embed_dim=32",
    "model.num_heads=2",
    "model.decoder_embed_dim=32",
    "model.decoder_num_heads=2",
    "model.decoder_depth=1",
    "data.num_frames=4",
    "data.input_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.pin_memory=false",
    "logger=none",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.max_steps=2",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "checkpoint.every_n_epochs=1000",
]


def clip_frames(num_frames: int = 12, width: int = 80, height: int = 64, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a fixed texture whose brightness steps with the frame index (frame t has
    mean about 40 + 12 t), so tests can tell frames apart after compression."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 40, (height, width, 3))
    return np.stack([np.clip(texture + 40 + 12 * t, 0, 255) for t in range(num_frames)]).astype(np.uint8)


def write_clip(path: str, num_frames: int = 12, width: int = 80, height: int = 64, seed: int = 0) -> str:
    """A small video; the container and codec follow the extension (.mp4/.mkv: H.264, .avi: MPEG-4
    part 2, .webm: VP9)."""
    frames = clip_frames(num_frames, width, height, seed)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".mp4", ".mkv"):
        write_video(path, frames, fps=10)
        return path
    return encode(path, frames, {".avi": "mpeg4", ".webm": "libvpx-vp9"}[ext])


def encode(path: str, frames: np.ndarray, codec: str, options: dict[str, str] | None = None) -> str:
    """(T, H, W, 3) uint8 frames written with PyAV's `codec` at 10 fps (`options`: the codec's)."""
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if options:
            stream.options = options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


BROKEN_KINDS = ("zero_byte", "truncated", "garbage", "text", "missing")


def garbage_bytes(size: int = 4096) -> bytes:
    """The same random bytes every run, behind a prefix no file format claims: a random first
    byte of 0x80 reads as a pickle, a '{' at byte 8 as safetensors, so os.urandom is flaky."""
    prefix = b"garbage:"
    return prefix + np.random.default_rng(size).integers(0, 256, size - len(prefix), dtype=np.uint8).tobytes()


def place(bank: dict[str, str], kind: str, dest: str) -> str:
    """Put a bank video (or a broken file; `missing`: nothing) at `dest`."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if kind != "missing":
        shutil.copyfile(bank[kind], dest)
    return dest


# --- tiny datasets in each official layout, built from the session's video bank -----------------
# The four layouts use different file names, so they can share one root (the end-to-end test
# trains on all four from the same directory).

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


def _backend_param(name: str):
    from videomae.data.decoders import module

    reason = module(name).missing()
    return pytest.param(name, marks=pytest.mark.skipif(reason is not None, reason=f"{name}: {reason}"))


# Every decoder backend, each skipped (saying why) where it cannot run: decord without a wheel,
# torchcodec without FFmpeg's shared libraries.
BACKENDS = [_backend_param(name) for name in ("decord", "pyav", "torchcodec")]
