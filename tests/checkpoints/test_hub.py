"""Exports that drop into the Hugging Face ecosystem: processor configs, class names, the model card,
and pipeline("video-classification") on a real video, from a real pre-train -> fine-tune -> evaluate
chain on a folder of videos with named classes."""

import argparse
import io
import json
import logging
import os
import re
import runpy
import warnings
from contextlib import contextmanager, redirect_stdout

import numpy as np
import pytest
import torch
import yaml
from helpers import REPO, TINY, run_script
from hydra import compose, initialize_config_dir
from transformers import (
    AutoImageProcessor,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
    VideoMAEForPreTraining,
)
from transformers.utils import logging as hf_logging

import videomae
from videomae.checkpoints import export_hf, model_from_checkpoint
from videomae.checkpoints.hub import pretraining_record
from videomae.data.synthetic import SyntheticSpec, render_video, write_video
from videomae.data.transforms import EvalTransform
from videomae.training.finetune import run as finetune
from videomae.utils.pixels import normalize_uint8

CONVERT = runpy.run_path(os.path.join(REPO, "scripts", "convert.py"))["main"]  # in-process: one start-up
# Class folders of the dataset: the names must travel in dataset order (sorted folder names).
FOLDER_CLASSES = {"slide_right": 0, "slide_left": 1, "grow": 6}  # name -> the synthetic motion drawn
CLASSES = sorted(FOLDER_CLASSES)
TINY_CLIP = dict(num_frames=16, size=48)


def write_folder(root, per_class: int, seed: int) -> None:
    spec = SyntheticSpec(**TINY_CLIP)
    rng = np.random.default_rng(seed)
    for name, motion in FOLDER_CLASSES.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            write_video(os.path.join(root, name, f"{name}_{i}.mp4"), render_video(motion, spec, rng), fps=10)


@contextmanager
def transformers_warnings():
    """Every warning transformers logs (missing/unexpected keys, unused config) or raises."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = hf_logging.get_logger("transformers")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield records
    finally:
        logger.removeHandler(handler)
    records += caught


def messages(records) -> list[str]:
    return [str(getattr(r, "message", None) or r.getMessage()) for r in records]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Pre-train (script), fine-tune + multi-view test (in process), convert both runs to HF."""
    base = tmp_path_factory.mktemp("hf_chain")
    data = base / "videos"
    write_folder(str(data / "train"), per_class=2, seed=0)
    write_folder(str(data / "val"), per_class=1, seed=1)
    common = [*TINY, "dataset=folder", f"data.root={data}", "data.num_frames=4", "data.input_size=32"]
    pre_dir = base / "pretrain"
    result = run_script("pretrain.py", *common, f"hydra.run.dir={pre_dir}", "mask.ratio=0.75")
    assert result.returncode == 0, result.stderr[-3000:]
    ft_dir = base / "finetune"
    overrides = [
        *common,
        f"pretrained={pre_dir}",
        "test=true",
        "data.test_clips=2",
        "data.test_crops=1",
        "model.init_scale=1.0",  # a head that separates the classes clearly after 2 steps
        "+trainer.num_sanity_val_steps=0",
    ]
    with initialize_config_dir(config_dir=os.path.join(REPO, "configs"), version_base="1.3"):
        cfg = compose("finetune", overrides=overrides)
    printed = io.StringIO()
    with redirect_stdout(printed):
        finetune(cfg, str(ft_dir))
    assert CONVERT([str(ft_dir), str(base / "hf"), "--to", "hf"]) == 0
    assert CONVERT([str(pre_dir), str(base / "hf_pre"), "--to", "hf"]) == 0
    return {
        "printed": printed.getvalue(),
        "base": base,
        "pretrain": pre_dir,
        "finetune": ft_dir,
        "hf": base / "hf",
        "hf_pre": base / "hf_pre",
    }


@pytest.mark.slow
def test_finetuning_records_class_names_and_evaluation_uses_them(chain):
    ckpt = torch.load(chain["finetune"] / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    hp = ckpt["hyper_parameters"]
    assert hp["classes"] == CLASSES  # dataset order: sorted class folders
    pre = hp["pretrained_record"]
    assert pre["layout"] == "lightning" and pre["dataset"] == "folder"
    assert pre["mask"]["ratio"] == 0.75 and pre["global_step"] == 2
    metrics = json.loads((chain["finetune"] / "eval" / "metrics.json").read_text())
    assert list(metrics["per_class"]) == CLASSES and metrics["videos"] == 3
    assert (metrics["test_clips"], metrics["test_crops"], metrics["global_step"]) == (2, 1, 2)
    per_class = chain["printed"].split("per-class top-1:\n")[1].splitlines()[:3]
    assert [line.split()[0] for line in per_class] == CLASSES
    assert per_class[0].endswith(f"{metrics['per_class'][CLASSES[0]]['top1']:6.2f}%  (1 videos)")
    rows = (chain["finetune"] / "eval" / "predictions.csv").read_text().splitlines()
    assert rows[1].split(",")[3] in CLASSES and rows[1].split(",")[5] in CLASSES  # label_name, predicted_name


@pytest.mark.slow
def test_convert_run_dir_writes_a_loadable_hub_directory(chain):
    hf = chain["hf"]
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(
        os.listdir(hf)
    )
    with transformers_warnings() as records:
        processor = AutoImageProcessor.from_pretrained(hf)
        video_processor = AutoVideoProcessor.from_pretrained(hf)
        model, info = AutoModelForVideoClassification.from_pretrained(hf, output_loading_info=True)
        pre, pre_info = VideoMAEForPreTraining.from_pretrained(chain["hf_pre"], output_loading_info=True)
    for loading in (info, pre_info):
        assert not any(
            loading[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
        )
    assert not messages(records), messages(records)
    with transformers_warnings() as records:  # the capture works: the wrong class reports missing keys
        VideoMAEForPreTraining.from_pretrained(hf)
    assert any("MISSING" in message for message in messages(records))
    assert model.config.id2label == dict(enumerate(CLASSES))
    assert model.config.label2id == {name: i for i, name in enumerate(CLASSES)}
    assert model.config.num_frames == 4 and pre.config.num_frames == 4
    for p in (processor, video_processor):
        assert p.size == {"shortest_edge": 32} and p.crop_size == {"height": 32, "width": 32}
        assert tuple(p.image_mean) == (0.485, 0.456, 0.406) and tuple(p.image_std) == (0.229, 0.224, 0.225)
    assert video_processor.num_frames == 4
    ours, report = model_from_checkpoint(hf)  # and back into the framework, names kept
    assert report.labels == CLASSES and ours.num_classes == 3


@pytest.mark.slow
def test_model_card_is_written_from_the_run(chain):
    card = (chain["hf"] / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["library_name"] == "transformers" and header["pipeline_tag"] == "video-classification"
    assert {"license", "tags", "metrics"} <= set(header) and "videomae" in header["tags"]
    metrics = json.loads((chain["finetune"] / "eval" / "metrics.json").read_text())
    result = header["model-index"][0]["results"][0]
    assert result["metrics"][0]["value"] == round(metrics["top1"], 2)
    assert result["metrics"][0]["name"] == "top1 (2 clips x 1 crops)"
    assert f"| {metrics['top1']:.2f}% | {metrics['top5']:.2f}% | {metrics['mean_class']:.2f}% |" in card
    assert "3 videos, 2 clips x 1 crops = 2 views per video" in card
    assert "fine-tuned on a folder of videos" in card and "(`vit_tiny`), 32 wide, 1 blocks, 2 heads" in card
    assert "4 frames x 32 x 32 px" in card and "tubelet 2, patch 16 x 16: 8 tokens" in card
    assert f"| classes | 3: {', '.join(CLASSES)} |".replace("_", "\\_") in card  # Markdown-escaped
    pretraining = card.split("## Pre-training")[1].split("## Fine-tuning")[0]
    # the run directory by name: the card is published, this machine's directories are not
    assert "- from: `pretrain` (lightning layout)" in pretraining and str(chain["base"]) not in card
    assert "- masking: tube, ratio 0.75" in pretraining and "2 optimizer steps" in pretraining
    finetuning = card.split("## Fine-tuning")[1].split("## Evaluation")[0]
    assert "- dataset: a folder of videos" in finetuning and "layer decay 0.75" in finetuning
    assert 'pipeline("video-classification"' in card and "@inproceedings{tong2022videomae" in card
    pre_card = (chain["hf_pre"] / "README.md").read_text()
    assert "pre-trained on a folder of videos" in pre_card and "- masking: tube, ratio 0.75" in pre_card


def torchcodec_problem(video: str) -> str | None:
    """Why torchcodec (the video pipeline's decoder) cannot decode `video` here, or None.

    torchcodec imports without FFmpeg; its FFmpeg-linked core loads on the first decode.
    """
    try:
        from torchcodec.decoders import VideoDecoder

        VideoDecoder(video)
    except Exception as err:  # noqa: BLE001 - ImportError, or OSError/RuntimeError without FFmpeg
        lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        return (
            f"torchcodec cannot decode here ({type(err).__name__}: {lines[0][:160]}); "
            "pipeline('video-classification') decodes with torchcodec, which needs FFmpeg's shared "
            "libraries (apt-get install ffmpeg)"
        )
    return None


@pytest.mark.slow
def test_pipeline_on_a_real_video_matches_our_single_view_prediction(chain):
    # A video the model has not seen, not square (the resize and crop matter), 12 frames.
    frames = render_video(6, SyntheticSpec(**{**TINY_CLIP, "size": 64}), np.random.default_rng(7))
    video = str(chain["base"] / "unseen.mp4")
    write_video(video, frames[:12, :48, :], fps=10)
    problem = torchcodec_problem(video)
    if problem:
        pytest.skip(problem)
    from torchcodec.decoders import VideoDecoder
    from transformers import pipeline

    classifier = pipeline("video-classification", model=str(chain["hf"]))
    fed = []
    classifier.model.register_forward_pre_hook(
        lambda m, args, kwargs: fed.append(kwargs["pixel_values"]), with_kwargs=True
    )
    out = classifier(video, top_k=3)

    # Our prediction: the fine-tuned checkpoint in the framework, one centre view of the frames the
    # pipeline samples (num_frames evenly over the video), with the framework's test transform.
    ours, _ = model_from_checkpoint(chain["finetune"] / "checkpoints" / "last.ckpt")
    decoder = VideoDecoder(video)
    indices = (np.arange(4) * len(decoder) // 4).tolist()
    clip = EvalTransform(32)(decoder.get_frames_at(indices=indices).data)  # (T, C, H, W) uint8
    pixels = normalize_uint8(clip.permute(1, 0, 2, 3)[None])
    with torch.no_grad():
        probs = ours.eval()(pixels).softmax(-1)[0]
    # The pipeline fed the model exactly our input: the processor config is the model's preprocessing.
    torch.testing.assert_close(fed[0][0].permute(1, 0, 2, 3), pixels[0], atol=1e-5, rtol=0)
    assert out[0]["label"] == CLASSES[int(probs.argmax())]
    for row in out:  # fc_norm eps 1e-5 in transformers vs 1e-6 here: scores agree to 1e-4
        assert row["score"] == pytest.approx(float(probs[CLASSES.index(row["label"])]), abs=1e-4)


# --- without a training record -----------------------------------------------------------------


def test_export_writes_processor_configs_for_the_models_input(tmp_path):
    model = videomae.create_classifier(
        "vit_tiny", 2, embed_dim=32, depth=1, num_heads=2, num_frames=8, img_size=48
    )
    export_hf(model, tmp_path / "hf")
    processor = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "VideoMAEImageProcessor"
    assert processor["size"] == {"shortest_edge": 48} and processor["crop_size"] == {
        "height": 48,
        "width": 48,
    }
    assert json.loads((tmp_path / "hf" / "video_preprocessor_config.json").read_text())["num_frames"] == 8
    card = (tmp_path / "hf" / "README.md").read_text()
    assert (
        "| classes | 2 (no class names recorded) |" in card
        and "No evaluation" not in card.split("## Model")[0]
    )
    assert "Not recorded" in card and "8 frames x 48 x 48 px" in card
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["id2label"] == {
        "0": "LABEL_0",
        "1": "LABEL_1",
    }


@pytest.mark.slow
def test_old_finetuning_checkpoint_without_names_falls_back_to_label_i(chain, tmp_path):
    ckpt = torch.load(chain["finetune"] / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    for key in ("classes", "pretrained_record"):  # as written before either existed
        del ckpt["hyper_parameters"][key]
    torch.save(ckpt, tmp_path / "old.ckpt")
    assert CONVERT([str(tmp_path / "old.ckpt"), str(tmp_path / "hf"), "--to", "hf"]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "`pretrain` (lightning layout)" in card  # read from the pre-training run itself
    assert "No evaluation of this checkpoint" in card  # eval/ measured another file


def test_earlier_exports_still_load_and_convert(tmp_path):
    model = videomae.create_classifier(
        "vit_tiny", 2, embed_dim=32, depth=1, num_heads=2, num_frames=4, img_size=32
    )
    export_hf(model, tmp_path / "old", labels=["cat", "dog"])
    for name in ("preprocessor_config.json", "video_preprocessor_config.json", "README.md"):
        os.remove(tmp_path / "old" / name)  # the export as it was before these files
    back, report = model_from_checkpoint(tmp_path / "old")
    assert report.labels == ["cat", "dog"]
    assert CONVERT([str(tmp_path / "old"), str(tmp_path / "new"), "--to", "hf"]) == 0
    assert AutoImageProcessor.from_pretrained(tmp_path / "new").crop_size == {"height": 32, "width": 32}
    assert json.loads((tmp_path / "new" / "config.json").read_text())["id2label"] == {"0": "cat", "1": "dog"}


def test_card_of_a_classifier_trained_from_scratch_on_ucf101(tmp_path):
    model = videomae.create_classifier(
        "vit_tiny", 2, embed_dim=32, depth=1, num_heads=2, num_frames=4, img_size=32
    )
    config = {"data": {"name": "ucf101", "split": 2, "sampling": "dense", "sampling_rate": 4}}
    record = {"stage": "finetune", "config": config, "pretrained": None, "global_step": 10, "epoch": 0}
    export_hf(model, tmp_path / "hf", labels=["Archery", "Biking"], record=record, license="apache-2.0")
    card = (tmp_path / "hf" / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["datasets"] == ["ucf101"] and header["license"] == "apache-2.0"
    assert "model-index" not in header and "No evaluation of this checkpoint" in card
    assert "from random initialisation (no pre-training)" in card and "- dataset: UCF101, split 2" in card
    assert "clips of 4 frames taken every 4 frames" in card


def test_pretraining_record_of_an_original_checkpoint(tmp_path):
    args = argparse.Namespace(
        model="pretrain_videomae_base_patch16_224",
        mask_type="tube",
        mask_ratio=0.9,
        epochs=800,
        data_path="k400",
    )
    torch.save({"model": {"x": torch.zeros(1)}, "args": args}, tmp_path / "orig.pth")
    record = pretraining_record(str(tmp_path / "orig.pth"))
    assert record["layout"] == "original" and record["max_epochs"] == 800
    assert record["mask"] == {"type": "tube", "ratio": 0.9} and record["dataset"] == "k400"
    assert pretraining_record(None) is None


HOSTILE_NAMES = [
    "a|b",
    "two\nlines",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "`code` *bold* _it_ ~~gone~~ \\ & done",
]


def test_card_escapes_class_names_and_hides_local_paths(tmp_path):
    """Class names are folder names, written by anyone: on the card they are literal text in one
    table cell, never HTML or a link; the pre-training run's absolute path is not published."""
    model = videomae.create_classifier(
        "vit_tiny", len(HOSTILE_NAMES), embed_dim=32, depth=1, num_heads=2, num_frames=4, img_size=32
    )
    run = tmp_path / "home" / "alice" / "runs" / "pretrain" / "2026-12-01_10-00-00"
    pretrained = {
        "checkpoint": str(run / "checkpoints" / "last.ckpt"),
        "layout": "lightning",
        "dataset": "/data/my_set",
    }
    record = {"stage": "finetune", "config": {"data": {"name": "folder"}}, "pretrained": pretrained}
    export_hf(model, tmp_path / "hf", labels=HOSTILE_NAMES, record=record, license="mit`<b>x</b>`")
    card = (tmp_path / "hf" / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| classes |"))
    assert row.count("|") - row.count("\\|") == 3  # one label cell and one value cell, whatever the names
    assert "two lines" in row
    for raw in ("<script", "<img", 'onerror="', "`code`", "*bold*", "~~gone~~"):
        assert raw not in card, raw
    assert not re.search(r"(?<!\\)\]\(javascript:", card)  # a link only where `]` is not escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row and "\\[click\\](javascript:alert(1))" in row
    assert "alice" not in card and str(tmp_path) not in card
    assert "- from: `2026-12-01_10-00-00/checkpoints/last.ckpt` (lightning layout)" in card
    assert "- dataset: my\\_set" in card and "`mit'<b>x</b>'`." in card  # a license cannot close its code
    # the names themselves stay exact where machines read them
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert list(config["id2label"].values()) == HOSTILE_NAMES


def test_card_neither_reverses_nor_floods_on_a_class_name(tmp_path):
    """A name with a right-to-left override showed every name after it reversed (the card could
    read as anything), and a 5000-character name filled the classes row."""
    names = ["abc\u202edcba", "\u2067x\u2069", "b" * 5000, "after"]
    model = videomae.create_classifier(
        "vit_tiny", len(names), embed_dim=32, depth=1, num_heads=2, num_frames=4, img_size=32
    )
    export_hf(model, tmp_path / "hf", labels=names)
    card = (tmp_path / "hf" / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| classes |"))
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", card)
    assert "abcU+202Edcba" in row and "U+2067xU+2069" in row and ", after |" in row
    assert len(row) < 400 and "b" * 80 + "..." in row
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert list(config["id2label"].values()) == names
