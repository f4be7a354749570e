"""Nothing is lost and every mistake is one line: safe convert, one safe reader for every path that
opens a checkpoint, a full disk and SIGKILL mid-save, typed config validation, BOM-safe lists,
errors from DataLoader workers, and a loader that resumes mid-epoch on each DDP rank."""

import errno
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import REPO, TINY, garbage_bytes, run_script, tiny_model, tiny_overrides
from torch.utils.data import DataLoader, Dataset

from videomae import export_ours
from videomae.checkpoints import io as ckpt_io
from videomae.config.cli import reported_errors, user_message
from videomae.data.annotations import AnnotationError, read_list
from videomae.data.layouts import load_index
from videomae.training.checkpoint_io import AtomicCheckpointIO
from videomae.utils import atomic_files
from videomae.utils.errors import CheckpointError, ConfigError, DataError, DiskFullError


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_error_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single `error:` line a failed run ends with (no traceback)."""
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "weights_only=False" not in result.stderr
    return errors[0]


# --- convert never destroys data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def convert_main():
    return runpy.run_path(str(Path(REPO) / "scripts" / "convert.py"))["main"]  # in-process: one start-up


def test_convert_refuses_its_source_and_an_existing_destination(tmp_path, convert_main, capsys):
    src = tmp_path / "w.safetensors"
    export_ours(tiny_model(), src)
    before = src.read_bytes()
    assert convert_main([str(src), str(src), "--to", "ours", "--overwrite"]) == 2
    assert "is the source" in capsys.readouterr().err
    assert convert_main([str(src), str(tmp_path), "--to", "hf", "--overwrite"]) == 2  # DST holds SRC
    assert "overlaps the source" in capsys.readouterr().err
    assert src.read_bytes() == before

    dst = tmp_path / "out.pth"
    dst.write_bytes(b"someone's file")
    assert convert_main([str(src), str(dst), "--to", "original"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and dst.read_bytes() == b"someone's file"
    assert convert_main([str(src), str(dst), "--to", "original", "--overwrite"]) == 0
    assert "encoder.blocks.0.attn.qkv.weight" in torch.load(dst, weights_only=True)["model"]

    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "stale.txt").write_text("old export")
    assert convert_main([str(src), str(hf), "--to", "hf"]) == 2 and (hf / "stale.txt").exists()
    assert convert_main([str(src), str(hf), "--to", "hf", "--overwrite"]) == 0
    assert "stale.txt" not in {p.name for p in hf.iterdir()}  # swapped whole
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {
        p.name for p in hf.iterdir()
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_convert_reads_its_source_with_the_safe_reader(tmp_path, convert_main, capsys):
    marker = tmp_path / "pwned"
    torch.save({"model": {}, "payload": Exploit(marker)}, tmp_path / "evil.pth")
    assert convert_main([str(tmp_path / "evil.pth"), str(tmp_path / "x.safetensors"), "--to", "ours"]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and "weights_only=False" not in err and not marker.exists()
    (tmp_path / "hf").mkdir()
    export_ours(tiny_model(), tmp_path / "hf" / "model.safetensors")
    (tmp_path / "hf" / "config.json").write_text("{not json")
    assert convert_main([str(tmp_path / "hf"), str(tmp_path / "y"), "--to", "ours"]) == 2
    assert "config.json: not readable JSON" in capsys.readouterr().err


# --- one safe reader for every checkpoint path ----------------------------------------------------


def test_training_checkpoints_are_read_safely_and_checked_for_their_kind(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "x": Exploit(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused to load"):
        AtomicCheckpointIO().load_checkpoint(evil)  # what Lightning's ckpt_path restore calls
    assert not marker.exists()
    weights = tmp_path / "weights.pth"
    torch.save({"model": {"w": torch.ones(1)}}, weights)
    with pytest.raises(CheckpointError, match="not a training checkpoint of this framework"):
        ckpt_io.read_training_checkpoint(weights)
    pretrain = tmp_path / "pretrain.ckpt"
    torch.save({"state_dict": {}, "global_step": 3, "hyper_parameters": {"mask": {}}}, pretrain)
    assert ckpt_io.read_training_checkpoint(pretrain, needs="mask", mmap=True)["global_step"] == 3
    with pytest.raises(CheckpointError, match="not a fine-tuning checkpoint"):
        ckpt_io.read_training_checkpoint(pretrain, needs="num_classes")


@pytest.mark.parametrize(
    "script, kind, expected",
    [
        pytest.param("pretrain.py", "empty", "empty file (0 bytes)", marks=pytest.mark.slow),
        ("pretrain.py", "evil", "refused to load"),
        pytest.param("finetune.py", "truncated", "truncated", marks=pytest.mark.slow),
        pytest.param("evaluate.py", "garbage", "not a checkpoint", marks=pytest.mark.slow),
    ],
)
def test_bad_files_given_to_ckpt_path_or_checkpoint_end_with_one_line(
    tmp_path, synthetic_root, script, kind, expected
):
    marker = tmp_path / "pwned"
    path = tmp_path / "bad.ckpt"
    if kind == "evil":
        torch.save({"state_dict": {}, "global_step": 1, "x": Exploit(marker)}, path)
    elif kind == "truncated":
        torch.save({"state_dict": {"w": torch.ones(10_000)}, "global_step": 1}, path)
        path.write_bytes(path.read_bytes()[:20_000])
    else:
        path.write_bytes(b"" if kind == "empty" else garbage_bytes(5000))
    if script == "evaluate.py":
        args = [f"checkpoint={path}"]
    else:
        args = [
            *tiny_overrides(synthetic_root),
            "logger=none",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"ckpt_path={path}",
        ]
    line = one_error_line(run_script(script, *args, timeout=120))
    assert line.startswith(f"error: {path}: ") and expected in line, line
    assert not marker.exists()


# --- a full disk ----------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    ckpt_io.save_torch({"global_step": 1, "w": torch.zeros(1000)}, path)
    real_save = torch.save

    def full(obj, f):  # the file system refuses the write part-way, as ENOSPC does
        f.write(b"PK\x03\x04 partial")
        f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt_io.torch, "save", full)
    with pytest.raises(DiskFullError) as err:
        AtomicCheckpointIO().save_checkpoint({"global_step": 2, "w": torch.zeros(1000)}, path)
    message = str(err.value)
    assert f"disk full while writing {path}" in message
    assert "needs about 3.9 KiB" in message and "the previous last.ckpt is intact" in message
    assert "\n" not in message
    monkeypatch.setattr(ckpt_io.torch, "save", real_save)
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # the partial file is gone
    assert atomic_files._is_disk_full(RuntimeError("safetensors: No space left on device (os error 28)"))


def _mount_tmpfs(directory: Path, size: str) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.slow
def test_a_real_full_disk_mid_run_then_resume_after_freeing_space(tmp_path, synthetic_root):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run_dir = disk / "run"
        args = [*tiny_overrides(synthetic_root), "logger=none", f"hydra.run.dir={run_dir}"]
        first = run_script("pretrain.py", *args, "trainer.max_steps=8")  # one epoch: last.ckpt at step 8
        assert first.returncode == 0, first.stderr[-3000:]
        last = run_dir / "checkpoints" / "last.ckpt"
        size = last.stat().st_size
        # Leave about half a checkpoint free: the next save cannot fit, logs still can.
        filler = disk / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * (shutil.disk_usage(disk).free - size // 2))
        full = run_script("pretrain.py", *args, "trainer.max_steps=16", "ckpt_path=last")
        line = one_error_line(full, code=1)
        assert f"error: disk full while writing {last}: it needs about" in line, line
        assert "the previous last.ckpt is intact" in line
        assert torch.load(last, weights_only=True)["global_step"] == 8
        assert not list((run_dir / "checkpoints").glob(".*.tmp"))
        filler.unlink()
        resumed = run_script("pretrain.py", *args, "trainer.max_steps=16", "ckpt_path=last")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "pre-training done: 16 steps" in resumed.stdout
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# --- SIGKILL mid-save -----------------------------------------------------------------------------

SAVER = """
import sys, torch
from videomae.training.checkpoint_io import AtomicCheckpointIO
io, step = AtomicCheckpointIO(), 0
while True:
    step += 1
    ckpt = {"state_dict": {"w": torch.full((2_000_000,), float(step))}, "global_step": step}
    io.save_checkpoint(ckpt, sys.argv[1])
"""


def kill_mid_save(path: Path, times: int) -> None:
    """SIGKILL a process that rewrites `path` in a loop, each time while a save is under way."""
    for _ in range(times):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}
        )
        deadline = time.time() + 60
        while time.time() < deadline and not list(path.parent.glob(f".{path.name}.*.tmp")):
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if path.exists():  # at any moment, the checkpoint there is whole
            ckpt = ckpt_io.read_training_checkpoint(path)
            assert torch.equal(ckpt["state_dict"]["w"], torch.full((2_000_000,), float(ckpt["global_step"])))


def test_sigkill_mid_save_leaves_a_loadable_checkpoint_and_a_temp_file_that_is_cleaned(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    path.parent.mkdir()
    (path.parent / "epoch0001.ckpt.notes.tmp").write_text("not ours")  # names a user might use stay
    kill_mid_save(path, times=2)
    stale = sorted(path.parent.glob(".last.ckpt.*.tmp"))
    assert stale, "the kills should have interrupted a save"
    removed = atomic_files.clean_stale_temp_files(path.parent, tmp_path)
    assert sorted(removed) == [str(p) for p in stale]
    assert not list(path.parent.glob(".*.tmp"))
    assert (path.parent / "epoch0001.ckpt.notes.tmp").exists()


def test_a_directory_is_swapped_in_whole_or_not_at_all(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_files.atomic_directory(target) as tmp:
        (Path(tmp) / "half.txt").write_text("half")
        raise RuntimeError("killed mid-export")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_files.atomic_directory(target) as tmp:
        (Path(tmp) / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    with atomic_files.atomic_directory(target, replace=False) as tmp:  # another process was first
        (Path(tmp) / "late.txt").write_text("late")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary left


@pytest.mark.slow
def test_the_next_run_in_the_directory_removes_and_reports_partial_checkpoints(tmp_path, synthetic_root):
    run_dir = tmp_path / "run"
    args = [*tiny_overrides(synthetic_root), "logger=none", f"hydra.run.dir={run_dir}"]
    first = run_script("pretrain.py", *args, "trainer.max_steps=2")
    assert first.returncode == 0, first.stderr[-3000:]
    stale = run_dir / "checkpoints" / f".last.ckpt.{'0' * 32}.tmp"
    stale.write_bytes(b"PK\x03\x04 what a killed save left")
    hpc = run_dir / f".hpc_ckpt_1.ckpt.{'1' * 32}.tmp"
    hpc.write_bytes(b"PK")
    resumed = run_script("pretrain.py", *args, "trainer.max_steps=4", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"removed {stale}: a partial checkpoint left by an interrupted save" in resumed.stderr
    assert f"removed {hpc}" in resumed.stderr
    assert not stale.exists() and not hpc.exists()
    assert "pre-training done: 4 steps" in resumed.stdout


# --- errors inside DataLoader workers -------------------------------------------------------------


class Failing(Dataset):
    def __init__(self, error):
        self.error = error

    def __len__(self):
        return 4

    def __getitem__(self, index):
        try:
            raise KeyError(index)
        except KeyError:
            raise self.error from None


@pytest.mark.parametrize(
    "error, code",
    [
        (DataError("20 videos in a row could not be read; is data.root right? Examples:\n  a.mp4: x"), 1),
        (AnnotationError("train.csv:3: expected 'path label', got 'x'"), 2),
    ],
)
def test_worker_errors_read_as_they_do_without_workers(error, code, capsys):
    messages = []
    for workers in (0, 2):
        with pytest.raises(SystemExit) as exit_:
            with reported_errors():
                list(DataLoader(Failing(error), num_workers=workers))
        assert exit_.value.code == code
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1] == f"error: {error}\n"
    assert user_message(ValueError("plain")) == "plain"


@pytest.mark.slow
def test_a_folder_of_broken_videos_read_by_workers_ends_with_the_same_line(
    tmp_path, synthetic_root, video_bank
):
    root = tmp_path / "broken"
    root.mkdir()
    for kind in ("garbage", "text", "zero_byte"):
        shutil.copyfile(video_bank[kind], root / f"{kind}.mp4")
    lines = []
    for workers in (0, 2):
        result = run_script(
            "pretrain.py", "dataset=folder", *TINY, f"data.root={root}", f"data.num_workers={workers}",
            f"hydra.run.dir={tmp_path / f'run{workers}'}", timeout=180,
        )  # fmt: skip
        assert "Caught DataError" not in result.stderr
        lines.append(one_error_line(result, code=1))
    assert lines[0] == lines[1] and "videos in a row could not be read" in lines[0]


# --- typed config validation ----------------------------------------------------------------------


def compose(name: str, *overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=f"{REPO}/configs", version_base="1.3"):
        return hydra_compose(name, overrides=list(overrides))


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=abc", "data.batch_size=abc is not an integer; allowed: an integer >= 1"),
        ("data.num_frames=abc", "data.num_frames=abc is not an integer"),
        ("trainer.max_steps=abc", "trainer.max_steps=abc is not an integer; allowed: an integer >= -1"),
        ("data.num_workers=-1", "data.num_workers=-1 is out of range; allowed: an integer >= 0"),
        ("optim.base_lr=-1", "optim.base_lr=-1 is out of range; allowed: a number > 0"),
        ("trainer.max_steps=-5", "trainer.max_steps=-5 is out of range; allowed: an integer >= -1"),
        ("data.batch_size=1.5", "data.batch_size=1.5 is not an integer (a fraction cannot be used)"),
        (
            "optim.betas=[0.9]",
            "optim.betas=[0.9] is not allowed; allowed: a list of 2 numbers, each number in [0, 1)",
        ),
        (
            "data.scales=[1.0,0]",
            "data.scales=[1.0,0]: item 1 (0) is out of range; allowed: a number in (0, 1]",
        ),
        ("data.flip=yes", "data.flip=yes is not a boolean; allowed: true or false"),
        ("data.layout=tree", "data.layout=tree is not allowed; allowed: one of auto, list, official, folder"),
        ("model.drop_path_rate=1", "model.drop_path_rate=1 is out of range; allowed: a number in [0, 1)"),
        ("model.embed_dim=100", "model.embed_dim=100 is not divisible by model.num_heads="),
        ("mask.ratio=null", "mask.ratio=null is not allowed"),
        ("seed=1.5", "seed=1.5 is not an integer"),
    ],
)
def test_the_schema_names_key_value_and_what_is_allowed(override, message):
    from videomae.training.configs import build_configs

    with pytest.raises(ConfigError) as err:
        build_configs(compose("pretrain", override), "pretrain")
    assert str(err.value).startswith(message), str(err.value)


def test_every_shipped_config_passes_the_schema():
    from videomae.training.configs import build_configs

    for path in sorted(Path(REPO, "configs", "experiment").glob("*.yaml")):
        kind = "finetune" if "finetune" in path.stem else "pretrain"
        build_configs(compose(kind, f"experiment={path.stem}"), kind)
    build_configs(
        compose("pretrain", "data.decode_timeout=null", "data.root=2024", "optim.base_lr=1"), "pretrain"
    )
    build_configs(compose("finetune"), "finetune")


def test_lightning_refusals_and_unknown_keys_are_config_errors(tmp_path):
    from videomae.training.run_steps import build_datamodule, build_trainer

    for override, message in [
        ("trainer.devices=abc", "trainer.*: pytorch_lightning.Trainer refused these settings: `devices`"),
        ("trainer.strategy=nope", "invalid strategy name"),
        ("+trainer.foo=1", "trainer.foo=1 is not a pytorch_lightning.Trainer argument"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
            build_trainer(
                compose("pretrain", override, "logger=none", "trainer.accelerator=cpu"), str(tmp_path)
            )
    with pytest.raises(ConfigError, match="data.foo is not a data setting"):
        build_datamodule(compose("pretrain", "+data.foo=1"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["data.batch_size=1.5"], "error: data.batch_size=1.5 is not an integer"),
        pytest.param(
            ["trainer.max_steps=abc"],
            "error: trainer.max_steps=abc is not an integer",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["trainer.accelerator=cpu", "trainer.devices=abc"],
            "error: trainer.*: pytorch_lightning.Trainer refused",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_wrong_values_fail_from_the_command_line_with_one_line(tmp_path, args, message):
    line = one_error_line(run_script("pretrain.py", *args, f"hydra.run.dir={tmp_path}", timeout=120))
    assert line.startswith(message), line


# --- lists and folders ----------------------------------------------------------------------------


def test_lists_with_a_bom_and_crlf_keep_their_first_video(tmp_path):
    for name in ("a b.mp4", "c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "train.csv").write_bytes("\ufeffa b.mp4 0\r\nc.mp4 1\r\n".encode("utf-8"))
    (tmp_path / "classes.txt").write_bytes("\ufeff0 jump\r\n1 run\r\n".encode("utf-8"))
    samples = read_list(str(tmp_path / "train.csv"))
    assert samples == [(str(tmp_path / "a b.mp4"), 0), (str(tmp_path / "c.mp4"), 1)]
    assert all(os.path.isfile(path) for path, _ in samples)
    index = load_index("folder", str(tmp_path), layout="list")
    assert index.classes == ["jump", "run"] and index.splits["train"] == samples
    k400 = tmp_path / "k400"
    (k400 / "train").mkdir(parents=True)
    (k400 / "train" / "abc_000001_000011.mp4").write_bytes(b"x")
    (k400 / "train.csv").write_bytes(
        b"\xef\xbb\xbflabel,youtube_id,time_start,time_end,split\r\njump,abc,1,11,train\r\n"
    )
    assert load_index("k400", str(k400)).splits["train"] == [
        (str(k400 / "train" / "abc_000001_000011.mp4"), 0)
    ]


def test_folder_dataset_reports_empty_class_folders_and_dangling_links(tmp_path, synthetic_root, capsys):
    from videomae.data.config import DataConfig
    from videomae.data.datamodule import create_datamodule

    videos = sorted(Path(synthetic_root).rglob("*.mp4"))
    (tmp_path / "walk").mkdir()
    shutil.copyfile(videos[0], tmp_path / "walk" / "v.mp4")
    (tmp_path / "empty_class").mkdir()
    shutil.copyfile(videos[1], tmp_path / "loose.mp4")
    os.symlink(tmp_path / "gone.mp4", tmp_path / "dangling.mp4")
    index = load_index("folder", str(tmp_path))
    assert index.classes == ["walk"] and len(index.splits["train"]) == 2
    assert any("1 folder(s) without videos" in n and "empty_class" in n for n in index.notes)
    assert any("1 entry cannot be read" in n and "dangling.mp4 ->" in n for n in index.notes)
    create_datamodule(DataConfig("folder", str(tmp_path), layout="folder", num_workers=0)).load()
    err = capsys.readouterr().err
    assert "warning: " in err and "empty_class" in err and "dangling.mp4" in err


# --- a loader restored mid-epoch, on each of 2 DDP ranks ------------------------------------------


def ddp_probe(tmp_path, synthetic_root, name, *args) -> list[dict]:
    probe = tmp_path / f"probe-{name}"
    result = run_script(
        "pretrain.py", *tiny_overrides(synthetic_root), "logger=none", "trainer.accelerator=cpu",
        "trainer.devices=2", "trainer.strategy=ddp", "+callbacks.probe._target_=rank_probe.RankProbe",
        f"+callbacks.probe.out_dir={probe}", *args, tests_importable=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.serial
@pytest.mark.slow
def test_a_loader_restored_mid_epoch_yields_exactly_the_next_batches_on_each_ddp_rank(
    tmp_path, synthetic_root
):
    """torchtitan's check: 16 videos / (2 ranks x batch 2) = 4 steps an epoch; stop at step 6, in
    the middle of the second epoch, resume, and each rank must see what it would have seen."""
    reference = ddp_probe(
        tmp_path, synthetic_root, "ref", f"hydra.run.dir={tmp_path / 'ref'}", "trainer.max_steps=8"
    )
    run = f"hydra.run.dir={tmp_path / 'run'}"
    first = ddp_probe(tmp_path, synthetic_root, "first", run, "trainer.max_steps=6")
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    resumed = ddp_probe(tmp_path, synthetic_root, "resumed", run, "trainer.max_steps=8", "ckpt_path=last")
    for rank in range(2):
        ref, before, after = reference[rank], first[rank], resumed[rank]
        assert before["indices"] == ref["indices"][:6]
        assert after["steps"] == 8 and len(after["indices"]) == 2
        assert after["indices"] == ref["indices"][6:8], rank  # the same videos ...
        assert after["videos"] == ref["videos"][6:8], rank  # ... with the same augmentations
        assert after["masks"] == ref["masks"][6:8], rank  # ... and masks
    assert set(resumed[0]["indices"][0]).isdisjoint(resumed[1]["indices"][0])  # the ranks still split
