"""scripts/probe.py end to end: real videos, real Lightning runs, checkpoints of every layout,
resume, DDP on two CPU processes (gloo) with every video counted once."""

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_SYNTHETIC, run_script, tiny_model
from PIL import Image

from videomae import export_hf, export_original, export_ours
from videomae.experiments.probes import draw_attention
from videomae.training.probe_run import check_channels
from videomae.utils.errors import ConfigError


def data_overrides(root: str) -> list[str]:
    spec = TINY_SYNTHETIC
    if not root.startswith("list:"):
        synthetic = [
            f"data.synthetic.num_train_per_class={spec.num_train_per_class}",
            f"data.synthetic.num_val_per_class={spec.num_val_per_class}",
            f"data.synthetic.num_frames={spec.num_frames}",
            f"data.synthetic.size={spec.size}",
        ]
    else:  # 'path label' lists over the same videos
        root, synthetic = (
            root.removeprefix("list:"),
            ["dataset=folder", "data.layout=list", "data.flip=false"],
        )
    return [
        *synthetic,
        f"data.root={root}",
        "data.num_frames=4",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.pin_memory=false",
        "trainer.accelerator=cpu",
        "progress.style=lines",
        "probe.num_heads=2",
        "probe.depth=2",
    ]


def probe(tmp_path, root, checkpoint, name, *args):
    run_dir = tmp_path / name
    result = run_script("probe.py", f"checkpoint={checkpoint}", *data_overrides(root),
                        f"hydra.run.dir={run_dir}", *args)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "probe" / "metrics.json").read_text()), result, run_dir


def tiny_pretrain():
    torch.manual_seed(0)
    return tiny_model(patch_size=8)


@pytest.mark.slow
def test_attentive_grid_then_resume(tmp_path, synthetic_root):
    path = export_ours(tiny_pretrain(), tmp_path / "ours.safetensors")
    grid = ["probe.lrs=[1e-3,1e-2]", "probe.weight_decays=[0.01,0.1]", "trainer.devices=1"]
    record, result, run_dir = probe(tmp_path, synthetic_root, path, "run", *grid, "probe.epochs=1")
    assert len(record["heads"]) == 4 and record["chosen"]["head"] in {h["head"] for h in record["heads"]}
    for head in record["heads"]:
        assert set(head["eval"]) >= {"top1", "top5", "mean_class", "videos"} and head["eval"]["videos"] == 8
    assert record["selection"]["rule"] == "eval" and "evaluation split" in record["selection"]["how"]
    assert record["checkpoint"]["layout"] == "our exported weights"
    assert record["views"]["views"] == 3 and record["epoch_time_s"] > 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["kind"] == "probe" and summary["status"] == "completed"
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 8 and not any(k.startswith("encoder.") for k in ckpt["state_dict"])
    # Where its chosen head looks, on the first video of each class (the demo's picture).
    picture = draw_attention({"tiny": str(run_dir)}, data_overrides(synthetic_root), str(tmp_path / "a.png"))
    with Image.open(picture) as image:  # a title and captions, then the frames and one map: 2 rows
        assert image.height == 2 * 20 + 2 * (128 + 2) and image.width > 8 * 128
    # resume: one more epoch from the saved heads, not a fresh start
    record2, result, _ = probe(
        tmp_path, synthetic_root, path, "run", *grid, "probe.epochs=2", "ckpt_path=last"
    )
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 16 and ckpt["epoch"] == 1
    assert "epoch 2/2" in result.stdout and "epoch 1/2" not in result.stdout


@pytest.mark.slow
def test_every_checkpoint_layout_gives_the_same_knn_probe(tmp_path, synthetic_root):
    model = tiny_pretrain()
    paths = {
        "ours": export_ours(model, tmp_path / "ours.safetensors"),
        "original": export_original(model, tmp_path / "original.pth"),
        "hf": export_hf(model, tmp_path / "hf"),
    }
    classifier = tiny_model(8, patch_size=8)
    paths["original-finetuned"] = export_original(classifier, tmp_path / "finetuned.pth")
    records = {}
    for name, path in paths.items():
        knn = ["probe=knn", "trainer.devices=1", "probe.knn_k=[1,3]"]
        if name.startswith("original"):  # the original layout does not store the head count
            knn.append("+checkpoint_args.num_heads=2")
        records[name], _, _ = probe(tmp_path, synthetic_root, path, f"run-{name}", *knn)
    layouts = {name: r["checkpoint"]["layout"] for name, r in records.items()}
    assert len(set(layouts.values())) == 4, layouts
    # the same encoder in three layouts: the same features (to float precision: a transformers
    # file brings its LayerNorm eps) and the same kNN top-1 (top-5 may break ties among classes
    # without votes differently)
    feats = {n: torch.load(tmp_path / f"run-{n}" / "probe" / "features.pt", weights_only=False)["features"]
             for n in ("ours", "original", "hf")}  # fmt: skip
    for split in ("train", "eval"):
        for name in ("original", "hf"):
            torch.testing.assert_close(feats[name][split]["features"], feats["ours"][split]["features"],
                                       rtol=1e-4, atol=1e-4)  # fmt: skip
    top1 = {n: [h["eval"]["top1"] for h in records[n]["heads"]] for n in ("ours", "original", "hf")}
    assert top1["ours"] == top1["original"] == top1["hf"]


def odd_lists(tmp_path, synthetic_root) -> str:
    """The tiny demo's videos as 'path label' lists with 7 validation videos (an odd number)."""
    (src,) = [p for p in Path(synthetic_root).iterdir() if p.name.startswith("synthetic-")]
    root = tmp_path / "lists"
    root.mkdir()
    for name in ("train", "val", "classes.txt", "train.csv"):
        (root / name).symlink_to(src / name)
    (root / "val.csv").write_text("".join((src / "val.csv").read_text().splitlines(keepends=True)[:7]))
    return f"list:{root}"


@pytest.mark.serial
@pytest.mark.slow
def test_ddp_counts_every_video_once(tmp_path, synthetic_root):
    path = export_ours(tiny_pretrain(), tmp_path / "ours.safetensors")
    root = odd_lists(tmp_path, synthetic_root)
    one, _, _ = probe(tmp_path, root, path, "one", "probe=knn", "trainer.devices=1", "probe.knn_k=[3]")
    # 7 evaluation videos over 2 ranks: the distributed sampler pads one rank with a repeat
    ddp = ["trainer.devices=2", "trainer.strategy=ddp"]
    two, _, _ = probe(tmp_path, root, path, "two", "probe=knn", *ddp, "probe.knn_k=[3]")
    assert two["heads"][0]["eval"]["videos"] == one["heads"][0]["eval"]["videos"] == 7
    assert two["heads"] == one["heads"]
    att, _, _ = probe(
        tmp_path, root, path, "att", *ddp, "probe.epochs=1", "probe.select=holdout", "probe.holdout=0.5"
    )
    assert att["splits"] == {"train": 8, "selection": 8, "eval": 7}
    assert att["heads"][0]["eval"]["videos"] == 7 and att["heads"][0]["selection"]["videos"] == 8


@pytest.mark.slow
def test_a_cached_linear_sweep_reads_the_features_of_the_first_run(tmp_path, synthetic_root):
    path = export_ours(tiny_pretrain(), tmp_path / "ours.safetensors")
    args = ["probe=linear", "probe.cached=true", "trainer.devices=1"]
    first, _, _ = probe(tmp_path, synthetic_root, path, "run", *args, "probe.weight_decays=[0,0.1]")
    assert [h["head"] for h in first["heads"]] == ["lr0.01_wd0", "lr0.01_wd0.1"]
    second, result, _ = probe(tmp_path, synthetic_root, path, "run", *args, "probe.weight_decays=[0.01]")
    assert "features from" in result.stdout and [h["head"] for h in second["heads"]] == ["lr0.01_wd0.01"]


def test_data_channels_other_than_the_models_fail_in_one_line():
    check_channels("gray", 1)
    message = r"^data.channels=rgb gives 3-channel frames; .* takes 1: set data.channels=gray$"
    with pytest.raises(ConfigError, match=message):
        check_channels("rgb", 1)
