"""A fresh run never replaces files it did not write: a run directory that holds a user's files is
refused, in one line, before anything is written there."""

import json
import os

import pytest
from helpers import REPO, TINY, run_script, tiny_overrides
from hydra import compose, initialize_config_dir

from videomae.training import finetune, pretrain
from videomae.utils.errors import ConfigError


def compose_cfg(name, *overrides):
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        return compose(name, overrides=[*TINY, *overrides])


def snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_a_folder_with_the_users_own_run_files_is_refused_untouched(tmp_path, kind):
    """The issue's case: the user's own metrics.csv and summary.json, names the framework writes."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "metrics.csv").write_text("step,accuracy\n1,0.5\n")
    (folder / "summary.json").write_text('{"experiment": "my own"}')
    before = snapshot(folder)
    module = pretrain if kind == "pretrain" else finetune
    with pytest.raises(ConfigError) as err:
        module.run(compose_cfg(kind, f"data.root={tmp_path / 'videos'}"), str(folder))
    assert str(err.value) == (
        f"hydra.run.dir={folder} holds metrics.csv, summary.json but no summary.json of a run of this "
        "framework, so they are not a run's, and a fresh run would replace them: choose a new or empty "
        "hydra.run.dir"
    )
    assert snapshot(folder) == before and sorted(os.listdir(folder)) == ["metrics.csv", "summary.json"]


def test_a_folder_with_other_files_is_refused_naming_them(tmp_path):
    folder = tmp_path / "data"
    (folder / "videos").mkdir(parents=True)
    for name in ("notes.txt", "a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4", "f.mp4"):
        (folder / name).write_text("x")
    with pytest.raises(ConfigError) as err:
        pretrain.run(compose_cfg("pretrain"), str(folder))
    assert str(err.value).startswith(
        f"hydra.run.dir={folder} holds a.mp4, b.mp4, c.mp4, d.mp4, e.mp4, f.mp4 and 2 more, which no run "
        "of this framework writes"
    )
    assert not (folder / "summary.json").exists() and len(os.listdir(folder)) == 8


def test_an_earlier_run_of_ours_may_be_started_over(tmp_path):
    """A run that failed before its first checkpoint leaves its own files: a fresh start replaces them."""
    run_dir = tmp_path / "run"
    cfg = compose_cfg("pretrain", f"data.root={tmp_path / 'not_there'}", "dataset=folder")
    for _ in range(2):
        with pytest.raises(ConfigError, match="not a directory"):
            pretrain.run(cfg, str(run_dir))
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_the_script_refuses_in_one_line_and_a_new_folder_runs(tmp_path, synthetic_root):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "metrics.csv").write_text("step,accuracy\n1,0.5\n")
    args = [*tiny_overrides(synthetic_root), "trainer.max_steps=1", "probe.enabled=false"]
    result = run_script("pretrain.py", *args, f"hydra.run.dir={folder}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: hydra.run.dir={folder} holds metrics.csv but no summary.json of a run of this framework, "
        "so they are not a run's, and a fresh run would replace them: choose a new or empty hydra.run.dir"
    ]
    assert (folder / "metrics.csv").read_text() == "step,accuracy\n1,0.5\n"
    result = run_script("pretrain.py", *args, f"hydra.run.dir={tmp_path / 'new'}")
    assert result.returncode == 0, result.stderr[-2000:]


def test_evaluate_out_with_the_users_files_is_refused_untouched(tmp_path):
    from videomae.training.evaluate import evaluate

    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "predictions.csv").write_text("video,label\nmine.mp4,3\n")
    before = snapshot(folder)
    with pytest.raises(
        ConfigError, match=rf"^out={folder} holds predictions.csv but no summary.json of a run"
    ):
        evaluate(str(tmp_path / "run" / "checkpoints" / "last.ckpt"), out_dir=str(folder))
    assert snapshot(folder) == before


def tree(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["hydra_only", "foreign", "file"])
def test_the_script_refuses_before_hydra_writes_into_the_folder(tmp_path, kind):
    """Hydra writes .hydra/ and the log into hydra.run.dir before a run's own check: a folder
    holding only the user's .hydra/ had its config files overwritten and the run went on, a
    refused folder kept Hydra's files, and a file ended in Hydra's FileExistsError."""
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("mine")
    else:
        (target / ".hydra").mkdir(parents=True)
        (target / ".hydra" / "config.yaml").write_text("my: config\n")
        if kind == "foreign":
            (target / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    result = run_script("pretrain.py", *tiny_overrides(str(tmp_path / "videos")), f"hydra.run.dir={target}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    why = {
        "hydra_only": "holds .hydra but no summary.json of a run of this framework",
        "foreign": "holds notes.txt, which no run of this framework writes",
        "file": "is a file, not a directory",
    }[kind]
    assert len(lines) == 1 and lines[0].startswith(f"error: hydra.run.dir={target} {why}"), lines
    assert tree(tmp_path) == before and not (tmp_path / "videos").exists()
