"""The dataset factory: the datasets of one dataset index as a `DataConfig` makes them, in plain
PyTorch (no Lightning), for the datamodule, the frozen probes, the reconstruction pictures and the
feature extraction alike.

`open_datasets(config, mode)` is the one place that reads a dataset's index: it generates the demo's
videos if the config asks for them, checks `data.root` and reads the annotation lists once; the
`DatasetFactory` it returns then makes, from that index,
- `train()`: mode="pretrain": unlabeled clips (multi-scale crop, flip); mode="finetune": labeled
  clips (random resized crop, flip, RandAugment, random erasing; `data.train_per_class` few-shot);
- `validation()`: one view per video of the validation split (`centre_view`);
- `centre_view(videos)`: one clip per video, no augmentation: a random training clip drawn once per
  video as the original validates, or the centre clip with sampling_mode=uniform;
- `multiview(split)`: every test view of each video of a split (MultiViewDataset);
and the probes' `segments` and `views`, and the pictures' `fixed_clips`.
"""

import os
import sys
from collections.abc import Callable

from videomae.data import decoders
from videomae.data.config import DataConfig
from videomae.data.dataset import MultiViewDataset, VideoClipDataset
from videomae.data.layouts import DatasetIndex, load_index
from videomae.data.sampling import ClipSampler
from videomae.data.segments import SegmentClipDataset
from videomae.data.synthetic import SyntheticSpec, ensure_synthetic
from videomae.data.transforms import EvalTransform, FinetuneTransform, PretrainTransform
from videomae.data.video import VideoDecoder, decode_short_side
from videomae.utils.errors import ConfigError

MODES = ("pretrain", "finetune")
Samples = list[tuple[str, int]]


def check_mode(config: DataConfig, mode: str) -> str:
    """The backend `data.backend` stands for here, checked to work now (a missing decoder fails at
    start-up naming the fix, not in a worker), after the settings that depend on the run's mode."""
    if mode not in MODES:
        raise ConfigError(f"data mode {mode!r} is not one of {', '.join(MODES)}")
    if config.device_transforms and mode != "pretrain":
        raise ConfigError("data.device_transforms=true is for pre-training only (its crop and flip)")
    return decoders.resolve(decoders.check_name(str(config.backend)))


def synthetic_spec(config: DataConfig) -> SyntheticSpec | None:
    return SyntheticSpec(**config.synthetic) if config.synthetic is not None else None


def data_dir(config: DataConfig) -> str:
    """Where the videos and lists are: data.root, or the generated videos' folder under it."""
    spec = synthetic_spec(config)
    if spec is None:
        return config.root_dir
    return os.path.join(config.root_dir, f"synthetic-{spec.digest()}")


def check_root(config: DataConfig) -> None:
    """data.root is a directory (the generated demo's is made on the way); fails naming the key."""
    if config.synthetic is None and not os.path.isdir(config.root_dir):
        raise ConfigError(f"data.root={config.root_dir} is not a directory (dataset={config.name})")


def warn(note: str) -> None:
    print(f"warning: {note}", file=sys.stderr)


def open_datasets(
    config: DataConfig, mode: str = "pretrain", seed: int = 0, say: Callable[[str], None] | None = warn
) -> "DatasetFactory":
    """The factory over the dataset's index, read once here (see the module docstring). `say`: where
    what the index passed over is said (None: nowhere, as on the ranks other than zero)."""
    backend = check_mode(config, mode)
    spec = synthetic_spec(config)
    if spec is not None:
        ensure_synthetic(config.root_dir, spec)  # once; atomic, so concurrent ranks are fine
    check_root(config)
    index = load_index(
        config.name,
        data_dir(config),
        layout="list" if spec is not None else config.layout,
        split=config.split,
        train_list=config.train_list,
        val_list=config.val_list,
        test_list=config.test_list,
        num_classes=config.num_classes,
    )
    if not index.splits["train"]:
        raise ConfigError(f"data.root={config.root_dir}: the training split is empty ({index.source})")
    if say is not None:
        for note in index.notes:
            say(note)
    return DatasetFactory(config, index, mode, seed, backend)


def first_per_class(samples: Samples, count: int) -> Samples:
    """The first `count` videos of each label, in list order: a fixed labeled subset (few-shot runs)."""
    seen: dict[int, int] = {}
    subset = []
    for path, label in samples:
        if seen.get(label, 0) < count:
            seen[label] = seen.get(label, 0) + 1
            subset.append((path, label))
    return subset


class DatasetFactory:
    """The datasets of `index` as `config` and the run's `mode` make them (see the module docstring)."""

    def __init__(self, config: DataConfig, index: DatasetIndex, mode: str, seed: int, backend: str):
        self.config, self.index, self.mode, self.seed = config, index, mode, int(seed)
        self.backend = backend  # data.backend resolved: the decoder that works here
        self.data_dir = data_dir(config)

    @property
    def num_classes(self) -> int | None:
        """data.num_classes, else what the dataset defines (class folders, classes.txt, labels)."""
        return self.config.num_classes or self.index.num_classes

    @property
    def classes(self) -> list[str] | None:
        return self.index.classes

    def split(self, name: str) -> Samples:
        """The videos of split `name` (none when the dataset has no such split)."""
        return self.index.splits.get(name) or []

    def decoder(self) -> VideoDecoder:
        c = self.config
        return VideoDecoder(timeout=c.decode_timeout, backend=self.backend, channels=c.channels)

    def decoder_without_timeout(self) -> VideoDecoder:
        """The decoder of whole videos (dense features): no time limit per video."""
        return VideoDecoder(None, self.backend, self.config.channels)

    def sampler(self, sampling: str | None = None, pretrain: bool = False) -> ClipSampler:
        c = self.config
        sampling = sampling or c.sampling
        return ClipSampler(c.num_frames, sampling, c.sampling_rate, c.sampling_mode, pretrain, c.fps)

    def finetune_transform(self) -> FinetuneTransform:
        c, aug = self.config, self.config.augmentation
        return FinetuneTransform(
            c.input_size, crop_scale=aug["crop_scale"], crop_ratio=aug["crop_ratio"], flip=c.flip,
            rand_augment=aug["rand_augment"], erase_prob=float(aug["erase_prob"]),
        )  # fmt: skip

    def train_short_side(self) -> int:
        c = self.config
        return c.decode_short_side or decode_short_side(c.input_size, c.scales)

    # --- the datasets -------------------------------------------------------------------------

    def train(self) -> VideoClipDataset:
        c, samples = self.config, self.split("train")
        transform: PretrainTransform | FinetuneTransform
        if self.mode == "pretrain":
            sampler = self.sampler(c.training_sampling, pretrain=True)
            transform = PretrainTransform(c.input_size, c.scales, c.flip)
        else:
            if c.train_per_class is not None:
                samples = first_per_class(samples, c.train_per_class)
            unlabeled = [path for path, label in samples if label < 0]
            if unlabeled:
                raise ConfigError(
                    f"data.root={c.root_dir}: {len(unlabeled)} training videos have no label (e.g. "
                    f"{unlabeled[0]}); fine-tuning needs class sub-folders or 'path label' lists"
                )
            sampler, transform = self.sampler(), self.finetune_transform()
        return VideoClipDataset(
            samples,
            sampler,
            transform,
            num_sample=c.num_sample,
            decoder=self.decoder(),
            short_side=self.train_short_side(),
            size_mode=c.sampling_mode,
            defer_pixels=c.device_transforms,
        )

    def validation(self) -> VideoClipDataset | None:
        samples = self.split("val")
        return self.centre_view(samples) if samples else None

    def centre_view(self, videos: Samples, max_consecutive_failures: int = 20) -> VideoClipDataset:
        """The fine-tuning validation view of `videos`: one centre clip per video, no augmentation
        (also what the online probe embeds; it passes max_consecutive_failures=1 so that a broken
        video raises instead of being replaced by a random other one)."""
        mode = self.config.sampling_mode
        return VideoClipDataset(
            videos,
            self.sampler(),
            EvalTransform(self.config.input_size, mode),
            train=False,
            decoder=self.decoder(),
            short_side=self.config.input_size,
            max_consecutive_failures=max_consecutive_failures,
            size_mode=mode,
            # the original validates on its random training clip (then a centre crop)
            random_eval_clip=mode == "original",
            eval_seed=self.seed,
        )

    def multiview(self, split: str) -> MultiViewDataset | None:
        """Every test view of each video of `split` (None when the split has no videos)."""
        samples = self.split(split)
        return self.views(samples, self.config.test_clips, self.config.test_crops) if samples else None

    def views(self, videos: Samples, clips: int, crops: int) -> MultiViewDataset:
        """`clips` clips spread over each video x `crops` crops, from one decode per video."""
        c = self.config
        return MultiViewDataset(
            videos, self.sampler(), c.input_size, num_clips=clips, num_crops=crops,
            decoder=self.decoder(), size_mode=c.sampling_mode,
        )  # fmt: skip

    def segments(self, videos: Samples, num_segments: int) -> SegmentClipDataset:
        """The frozen probes' training clips: one random clip from each of `num_segments` parts."""
        c = self.config
        return SegmentClipDataset(
            videos, self.sampler(), self.finetune_transform(), decoder=self.decoder(),
            short_side=self.train_short_side(), size_mode=c.sampling_mode, num_segments=num_segments,
        )  # fmt: skip

    def fixed_clips(self, videos: Samples) -> VideoClipDataset:
        """The reconstruction pictures' clips: pre-training's frame choice (with the sampler's
        default rounding), centre view, no augmentation."""
        c = self.config
        return VideoClipDataset(
            videos,
            ClipSampler(c.num_frames, c.training_sampling, c.sampling_rate),
            EvalTransform(c.input_size, c.sampling_mode),
            train=False,
            decoder=self.decoder(),
            short_side=c.input_size,
            size_mode=c.sampling_mode,
        )
