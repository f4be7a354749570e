"""One pooled feature vector per video from any checkpoint's encoder, averaged over test views.

`scripts/extract_features.py` is this module's `run`: the dataset comes from the same `dataset=`
configs (and `data.*` overrides) as training, clips from the multi-view test loader (clips x
crops per video, as `data.test_clips` / `data.test_crops` say), features from the encoder:
mean of the token features (after the encoder's final norm for a pre-training checkpoint, then
`fc_norm` for a classifier, i.e. what its head sees), averaged over the views of each video.
"""

import csv
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videomae.checkpoints import model_from_checkpoint
from videomae.checkpoints.io import read_tensors
from videomae.checkpoints.run_dir import last_checkpoint
from videomae.data.config import DataConfig
from videomae.data.factory import open_datasets
from videomae.data.video import channels_for
from videomae.eval.dense_features import DenseExtractor, run_dense
from videomae.models.factory import VideoMAEModel
from videomae.models.probe_heads import AttentiveHead, LinearHead, build_head
from videomae.utils.atomic_files import atomic_path
from videomae.utils.errors import ConfigError
from videomae.utils.pixels import normalize_uint8

FORMATS = (".npz", ".csv")


def check_layer(model: VideoMAEModel, layer: int | None) -> int:
    """`layer` as a block number 1..depth (None or -1: the last; -k: k-th from the end)."""
    depth = len(model.encoder.blocks)
    if layer is None:
        return depth
    if isinstance(layer, bool) or not isinstance(layer, int) or not (-depth <= layer <= depth) or layer == 0:
        raise ConfigError(f"layer={layer!r}: a block number 1..{depth} (or -1..-{depth} from the end)")
    return layer if layer > 0 else depth + 1 + layer


def encoder_tokens(model: VideoMAEModel, videos: torch.Tensor, layer: int | None = None) -> torch.Tensor:
    """(B, N, D) token features of ImageNet-normalized videos (B, C, T, H, W), every token, after
    block `layer` (1-based; default the last, then the encoder's final norm when it has one, as
    `pooled_features` reads them). Earlier blocks' outputs are taken before any norm."""
    encoder = model.encoder
    layer = check_layer(model, layer)
    if layer == len(encoder.blocks):
        return encoder(videos)
    x = encoder.patch_embed(videos)
    x = x + encoder.pos_embed(x.shape[1], x)
    for block in encoder.blocks[:layer]:
        x = block(x)
    return x


POOLS = ("mean", "cls_like", "none", "attentive")


def load_probe_head(run_dir: str) -> tuple[nn.Module, dict]:
    """The chosen head of a `scripts/probe.py` run (an attentive or linear one), and its protocol."""
    metrics_path = os.path.join(run_dir, "probe", "metrics.json")
    ckpt_path = last_checkpoint(run_dir)
    if not (os.path.isfile(metrics_path) and os.path.isfile(ckpt_path)):
        raise ConfigError(
            f"probe={run_dir}: not a finished scripts/probe.py run "
            "(no probe/metrics.json and checkpoints/last.ckpt)"
        )
    with open(metrics_path) as f:
        record = json.load(f)
    protocol, names = record["protocol"], [h["head"] for h in record["heads"]]
    if protocol["kind"] == "knn":
        raise ConfigError(f"probe={run_dir}: a kNN probe has no head to pool with")
    state, _ = read_tensors(ckpt_path)
    number = names.index(record["chosen"]["head"])
    prefix = f"heads.{number}."
    weights = {k.removeprefix(prefix): v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    settings = (
        {k: protocol[k] for k in ("depth", "num_heads", "mlp_ratio")}
        if protocol["kind"] == "attentive"
        else {}
    )
    head = build_head(
        protocol["kind"], weights["linear.weight"].shape[1], weights["linear.weight"].shape[0], **settings
    )
    head.load_state_dict(weights)
    return head.eval(), protocol


def featurizer(
    model: VideoMAEModel, layer: int | None = None, pool: str = "mean", head: nn.Module | None = None
):
    """videos (B, C, T, H, W) normalized -> (B, D) (`none`: the token grid (B, t, h, w, D)).

    mean: the mean of the tokens (at the last layer: the model's `pool`, after the encoder's final
    norm for a pre-training checkpoint, then `fc_norm` for a classifier: what `pooled_features` gives).
    cls_like: VideoMAE has no class token; the vector a classification head reads in its place
    (at the last layer: the model's `forward_head(pre_logits=True)`, the classifier's
    `fc_norm(mean)`); elsewhere, and for a pre-training checkpoint, the mean normalised by a
    LayerNorm without affine parameters (fc_norm at its initialisation).
    attentive: a trained probe's pooled vector (the query's output; `head`, from load_probe_head)."""
    if pool not in POOLS:
        raise ConfigError(f"pool={pool!r} is not one of {', '.join(POOLS)}")
    if pool == "attentive" and head is None:
        raise ConfigError("pool=attentive needs probe=RUN_DIR, a scripts/probe.py run of this encoder")
    layer = check_layer(model, layer)
    last = layer == len(model.encoder.blocks)

    def run(videos: torch.Tensor) -> torch.Tensor:
        tokens = encoder_tokens(model, videos, layer)
        if pool == "none":
            return tokens.unflatten(1, model.encoder.grid)
        if pool == "attentive":
            assert isinstance(head, AttentiveHead | LinearHead), "checked above"
            return head.pool(tokens)
        if last:  # what the model itself pools its final tokens into
            return model.pool(tokens) if pool == "mean" else model.forward_head(tokens, pre_logits=True)
        mean = tokens.mean(dim=1)
        return F.layer_norm(mean, mean.shape[-1:]) if pool == "cls_like" else mean

    return run


def pooled_features(model: VideoMAEModel, videos: torch.Tensor) -> torch.Tensor:
    """(B, D) features of ImageNet-normalized videos (B, C, T, H, W)."""
    return model.forward_features(videos)


@torch.no_grad()
def extract(
    model: VideoMAEModel, loader, device: str | torch.device = "cpu", progress=None, featurize=None
) -> dict:
    """Features of every video the multi-view loader yields: {video_id: (D,) mean over its views},
    and the "path: reason" lines of the videos that could not be read. `featurize`: a
    `featurizer` (default: pooled_features)."""
    model = model.to(device).eval()
    featurize = featurize or (lambda x: pooled_features(model, x))
    features: dict[int, torch.Tensor] = {}
    failed: list[str] = []
    for batch in loader:
        video = batch["video"]  # (B, V, C, T, H, W) uint8
        B, V = video.shape[:2]
        x = normalize_uint8(video.flatten(0, 1).to(device), model.pixel_mean, model.pixel_std)
        feats = featurize(x).float().reshape(B, V, -1).mean(dim=1).cpu()
        for video_id, feat in zip(batch["video_id"].tolist(), feats, strict=True):
            features.setdefault(int(video_id), feat)  # a replaced broken video repeats another
        failed += [line for text in batch["failed"] for line in text.splitlines() if line]
        if progress is not None:
            progress(B)
    return {"features": features, "failed": failed}


def write_features(path: str, features: np.ndarray, paths: list[str], labels: list[int]) -> str:
    """`.npz`: arrays `features` (N, D) float32, `paths` (N,) str, `labels` (N,) int64, read with
    `np.load(path)`; `.csv`: a header `path,label,f0,...,f{D-1}` and one row per video, read with
    `pandas.read_csv(path)`."""
    features = np.asarray(features, dtype=np.float32)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"out={path}: the extension must be one of {', '.join(FORMATS)}")
    with atomic_path(path) as tmp:
        if ext == ".npz":
            with open(tmp, "wb") as f:  # a file, not a name: np.savez would add ".npz" to the name
                np.savez(
                    f,
                    features=features,
                    paths=np.asarray(paths, dtype=str),
                    labels=np.asarray(labels, dtype=np.int64),
                )
        else:
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["path", "label", *(f"f{i}" for i in range(features.shape[1]))])
                for p, label, row in zip(paths, labels, features, strict=True):
                    writer.writerow([p, int(label), *(repr(float(v)) for v in row)])
    return path


def run(
    checkpoint: str,
    data_cfg: dict,
    out: str,
    split: str = "test",
    batch_size: int | None = None,
    device: str = "cpu",
    explicit: tuple[str, ...] = (),
    layer: int | None = None,
    pool: str = "mean",
    probe: str | None = None,
    mode: str = "clip",
    stride: int = 4,
    shard: tuple[int, int] = (0, 1),
) -> dict:
    """Extract and write the features of `split` of the dataset `data_cfg` describes.

    mode=clip: one vector per video, averaged over the test views, to `out` (.npz/.csv);
    mode=dense: a window slid over each whole video, one `.npy` per video in the folder `out`
    (videomae.eval.dense_features). `explicit`: the data keys the user set; num_frames and input_size
    default to the model's.
    """
    if mode not in ("clip", "dense"):
        raise ConfigError(f"mode={mode!r} is not one of clip, dense")
    if not os.path.exists(checkpoint):
        raise ConfigError(f"checkpoint={checkpoint} does not exist")
    if mode == "clip" and os.path.splitext(out)[1].lower() not in FORMATS:
        raise ConfigError(
            f"out={out}: the extension must be one of {', '.join(FORMATS)} (mode=dense: a folder)"
        )
    if mode == "clip" and pool == "none" and not out.endswith(".npz"):
        raise ConfigError(f"out={out}: pool=none keeps the token grid, which only .npz holds")
    model, _ = model_from_checkpoint(checkpoint)
    t, h, w = model.grid
    patch, tubelet = model.encoder.patch_size, model.encoder.tubelet_size
    data = {k: v for k, v in dict(data_cfg).items() if k not in ("mean", "std")}  # the model's own
    if "channels" not in explicit:
        try:
            data["channels"] = channels_for(model.encoder.patch_embed.proj.in_channels)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    if "num_frames" not in explicit:
        data["num_frames"] = t * tubelet
    if "input_size" not in explicit:
        if h != w:
            raise ConfigError(f"the model's input is {h * patch}x{w * patch}: set data.input_size")
        data["input_size"] = h * patch
    if (data["num_frames"], data["input_size"]) != (t * tubelet, h * patch):  # position table rebuilt
        model, _ = model_from_checkpoint(
            checkpoint, num_frames=data["num_frames"], img_size=data["input_size"]
        )
    head = load_probe_head(probe)[0].to(device) if probe else None
    featurize = featurizer(model.to(device).eval(), layer, pool, head)
    datasets = open_datasets(DataConfig.from_mapping(data), mode="finetune")
    dm, splits = datasets.config, datasets.index.splits
    if split == "test" and not splits.get("test"):
        split = "val" if splits.get("val") else "train"
    if split not in ("train", "val", "test", "all"):
        raise ConfigError(f"split={split!r} is not one of train, val, test, all")
    if mode == "dense":
        names = ("train", "val", "test") if split == "all" else (split,)
        samples = list(dict.fromkeys(s for name in names for s in splits.get(name) or []))
        if not samples:
            raise ConfigError(f"split={split}: the dataset has no such videos (splits: {sorted(splits)})")
        extractor = DenseExtractor(featurize, dm.num_frames, dm.sampling_rate, stride, dm.input_size,
                                   int(batch_size or 8), device, datasets.decoder_without_timeout(),
                                   (model.pixel_mean, model.pixel_std))  # fmt: skip
        meta = {"checkpoint": os.path.abspath(checkpoint), "layer": check_layer(model, layer), "pool": pool,
                "num_frames": dm.num_frames, "sampling_rate": dm.sampling_rate, "stride": stride,
                "input_size": dm.input_size, "split": split, "probe": probe}  # fmt: skip
        result = run_dense(extractor, samples, datasets.data_dir, out, meta, shard)
        return {"out": out, "num_videos": result["videos"], "windows": result["windows"], "split": split,
                "skipped": result["failed"], "index": result["index"], "mode": "dense"}  # fmt: skip
    dataset = datasets.multiview(split)
    if dataset is None:
        raise ConfigError(f"split={split}: the dataset has no such videos (splits: {sorted(splits)})")
    samples = dataset.samples
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=int(batch_size or dm.videos_per_test_batch), num_workers=dm.num_workers
    )
    result = extract(model, loader, device, featurize=featurize)
    ids = sorted(result["features"])
    features = torch.stack([result["features"][i] for i in ids]).numpy() if ids else np.zeros((0, 0))
    if pool == "none" and ids:
        features = features.reshape(len(ids), *model.encoder.grid, -1)
    write_features(out, features, [samples[i][0] for i in ids], [samples[i][1] for i in ids])
    skipped = [samples[i][0] for i in range(len(samples)) if i not in result["features"]]
    return {
        "out": out,
        "num_videos": len(ids),
        "dim": int(features.shape[-1]) if ids else 0,
        "views": dm.test_clips * dm.test_crops,
        "split": split,
        "skipped": skipped,
        "mode": "clip",
    }
