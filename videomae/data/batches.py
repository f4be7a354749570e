"""What crosses from the data to the training modules: the datasets' items and the loaders' batches.

- `ClipItem` / `ClipBatch`: clips (VideoClipDataset, SegmentClipDataset): training and validation.
  With repeated sampling (`data.num_sample` = S > 1) an item's `video` is (S, C, T, H, W); the
  datamodule turns such a training batch into one clip per row (`flatten_repeats`), so the modules
  always see `video` (N, C, T, H, W) and `label` (N,).
- `WindowItem` / `WindowBatch`: pre-training with `data.device_transforms`: the decoded windows and
  each clip's drawn crop and flip, for the training device to make the clips
  (videomae.data.device_pixels): the datamodule turns it into a ClipBatch once it is on the device
  (`make_clips`), keeping each clip's crop and flip as `crop_params` (a teacher cache's record).
- `MultiViewItem` / `MultiViewBatch`: every test view of a video (MultiViewDataset): `video`
  (B, V, C, T, H, W), averaged per `video_id` by the evaluators.

Each item also says what it met on the way: `skipped`, the number of unreadable videos replaced,
and `failed`, their "path: reason" lines (counted by videomae.training.callbacks.SkippedVideos).
"""

from typing import TypedDict

import torch

from videomae.data.device_pixels import crop_resize_flip


class _ClipRecord(TypedDict, total=False):
    frame_indices: torch.Tensor  # the clip's frames (a teacher cache's record)
    crop_params: torch.Tensor  # batches with device transforms: each clip's crop and flip (N, 6)


class ClipItem(_ClipRecord):
    video: torch.Tensor  # uint8 (C, T, H, W); (S, C, T, H, W) with repeated sampling or segments
    label: int
    index: int  # the video used (a broken one's random replacement, if any)
    skipped: int
    failed: str


class WindowItem(TypedDict):
    frames: torch.Tensor  # uint8 (T, H, W, 3): the decoded window
    crops: torch.Tensor  # (S, 6): each clip's crop box, flip and size
    label: int
    index: int
    skipped: int
    failed: str
    frame_indices: torch.Tensor


class MultiViewItem(TypedDict):
    video: torch.Tensor  # uint8 (V, C, T, size, size), V = clips x crops, clip-major
    clip_index: torch.Tensor  # (V,)
    crop_index: torch.Tensor  # (V,)
    video_id: int
    label: int
    skipped: int
    failed: str


class ClipBatch(_ClipRecord):
    video: torch.Tensor  # (N, C, T, H, W), one clip per row
    label: torch.Tensor  # (N,)
    index: torch.Tensor  # (B,): per video (N = B x S with repeated sampling)
    skipped: torch.Tensor
    failed: list[str]


class WindowBatch(TypedDict):
    frames: torch.Tensor  # (B, T, H, W, 3), padded to the batch's largest window
    crops: torch.Tensor  # (B, S, 6)
    label: torch.Tensor
    index: torch.Tensor
    skipped: torch.Tensor
    failed: list[str]
    frame_indices: torch.Tensor


class MultiViewBatch(TypedDict):
    video: torch.Tensor  # (B, V, C, T, H, W)
    clip_index: torch.Tensor
    crop_index: torch.Tensor
    video_id: torch.Tensor
    label: torch.Tensor
    skipped: torch.Tensor
    failed: list[str]


TrainBatch = ClipBatch | WindowBatch  # as the training loader gives it


def flatten_repeats(batch: TrainBatch, num_sample: int, windows: bool) -> TrainBatch:
    """`num_sample` > 1 clips of each video, (B, S, C, T, H, W), as one clip per row (B x S, ...),
    each with its video's label. Windows (`windows`: device transforms) are left to the module,
    which makes their clips after the transfer."""
    if num_sample == 1 or windows:
        return batch
    clips: ClipBatch = batch  # type: ignore[assignment]  # not windows: clips
    clips["label"] = clips["label"].repeat_interleave(num_sample)
    clips["video"] = clips["video"].flatten(0, 1)
    return clips


def make_clips(batch: WindowBatch) -> ClipBatch:
    """The clips of a WindowBatch, (B x S, C, T, H, W), made on the batch's device (its windows and
    crops are dropped)."""
    clips: dict = batch  # type: ignore[assignment]  # becomes a ClipBatch in place
    clips["video"] = crop_resize_flip(clips.pop("frames"), clips.pop("crops"))
    return clips  # type: ignore[return-value]
