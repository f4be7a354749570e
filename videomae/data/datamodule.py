"""One LightningDataModule for every dataset, driven by the `data` config.

mode="pretrain": unlabeled training clips (multi-scale crop, flip), no validation.
mode="finetune": labeled training clips (random resized crop, flip, RandAugment, random erasing),
a validation loader (one view per video: a random training clip, drawn once per video, as the
original validates, or the centre clip with sampling_mode=uniform) and a test loader (every test
view of a video per item, see MultiViewDataset).

Clips leave the loader as uint8; the LightningModule normalises them on its device. Readers are
created inside the workers; the Trainer puts a DistributedSampler under the loaders with DDP.
"""

import os
import sys

import pytorch_lightning as pl
from lightning_fabric.utilities.seed import pl_worker_init_function
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from videomae.data.dataset import MultiViewDataset, VideoClipDataset
from videomae.data.layouts import DatasetIndex, load_index
from videomae.data.resume import training_loader
from videomae.data.sampling import ClipSampler
from videomae.data.settings import (
    AUGMENT_DEFAULTS,
    check_choices,
    check_counts,
    check_decoding,
    check_limits,
    check_root,
    check_train_per_class,
    clip_rate,
    first_per_class,
)
from videomae.data.synthetic import SyntheticSpec, ensure_synthetic
from videomae.data.transforms import EvalTransform, FinetuneTransform, PretrainTransform
from videomae.data.video import VideoDecoder, decode_short_side
from videomae.data.workers import WorkerInit
from videomae.errors import ConfigError


class VideoDataModule(pl.LightningDataModule):
    """Clips from the dataset under `root`, as `mode` needs them (see the module docstring)."""

    def __init__(
        self,
        name: str,
        root: str | None,
        mode: str = "pretrain",
        layout: str = "auto",
        split: int = 1,
        train_list: str = "train.csv",
        val_list: str | None = "val.csv",
        test_list: str | None = None,
        num_classes: int | None = None,
        num_frames: int = 16,
        sampling: str = "dense",
        pretrain_sampling: str | None = None,
        sampling_rate: int = 4,
        target_fps: float | None = None,
        clip_seconds: float | None = None,
        sampling_mode: str = "original",
        input_size: int = 224,
        scales: tuple[float, ...] = (1, 0.875, 0.75, 0.66),
        flip: bool = True,
        num_sample: int = 1,
        decode_short_side: int | None = None,
        test_clips: int = 5,
        test_crops: int = 3,
        augment: dict | None = None,
        batch_size: int = 8,
        test_batch_size: int | None = None,
        num_workers: int = 8,
        pin_memory: bool = True,
        max_skip_fraction: float = 0.5,
        skip_check_after: int = 100,
        decode_timeout: float | None = 60.0,
        backend: str = "auto",
        channels: str = "rgb",
        device_transforms: bool = False,
        synthetic: dict | None = None,
        train_per_class: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        check_choices(mode, sampling, pretrain_sampling, sampling_mode)
        check_counts(
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            input_size=input_size,
            num_sample=num_sample,
            test_clips=test_clips,
            test_crops=test_crops,
            batch_size=batch_size,
        )
        check_limits(max_skip_fraction, augment)
        check_root(name, root, train_list)
        self.name = name
        self.seed = int(seed)
        self.root = os.path.expanduser(str(root))
        self.mode = mode
        self.layout, self.split = layout, int(split)
        self.train_list, self.val_list, self.test_list = train_list, val_list, test_list
        self.num_frames = int(num_frames)
        self.sampling = sampling
        self.pretrain_sampling = pretrain_sampling or sampling
        self.sampling_rate = int(sampling_rate)
        self.fps = clip_rate(num_frames, (sampling, self.pretrain_sampling), target_fps, clip_seconds)
        self.sampling_mode = sampling_mode
        self.input_size = int(input_size)
        self.scales = tuple(scales)
        self.flip = flip
        self.num_sample = int(num_sample)
        self.decode_short_side = decode_short_side
        self.test_clips, self.test_crops = int(test_clips), int(test_crops)
        self.augment = {**AUGMENT_DEFAULTS, **(augment or {})}
        self.batch_size = int(batch_size)
        views = self.test_clips * self.test_crops
        self.test_batch_size = int(test_batch_size or max(1, self.batch_size // views))
        self.num_workers, self.pin_memory = int(num_workers), pin_memory
        self.max_skip_fraction = float(max_skip_fraction)
        self.skip_check_after = int(skip_check_after)
        self.decode_timeout, self.channels = decode_timeout, channels
        self.backend, self.device_transforms = check_decoding(backend, device_transforms, mode)
        self.synthetic = SyntheticSpec(**synthetic) if synthetic is not None else None
        self._num_classes = num_classes
        check_train_per_class(train_per_class)
        self.train_per_class = int(train_per_class) if train_per_class is not None else None
        self.index: DatasetIndex | None = None
        if mode == "pretrain":
            # No validation in pre-training: show Lightning the base hook (not overridden), so
            # that it neither builds nor warns about a validation loop.
            self.val_dataloader = super().val_dataloader  # type: ignore[method-assign]  # on purpose, see above
        if self.synthetic is None:
            self.check_root()
            self.index = self.load_index()

    @property
    def data_dir(self) -> str:
        if self.synthetic is not None:
            return os.path.join(self.root, f"synthetic-{self.synthetic.digest()}")
        return self.root

    def check_root(self) -> None:
        """Fail at start-up, naming the key, rather than deep inside a worker."""
        if not os.path.isdir(self.root):
            raise ConfigError(f"data.root={self.root} is not a directory (dataset={self.name})")

    def load_index(self) -> DatasetIndex:
        index = load_index(
            self.name,
            self.data_dir,
            layout="list" if self.synthetic is not None else self.layout,
            split=self.split,
            train_list=self.train_list,
            val_list=self.val_list,
            test_list=self.test_list,
            num_classes=self._num_classes,
        )
        if not index.splits["train"]:
            raise ConfigError(f"data.root={self.root}: the training split is empty ({index.source})")
        if rank_zero_only.rank == 0:
            for note in index.notes:  # what the index passed over, said once at start-up
                print(f"warning: {note}", file=sys.stderr)
        return index

    @property
    def num_classes(self) -> int | None:
        """data.num_classes, else what the dataset defines (class folders, classes.txt, labels)."""
        if self._num_classes is not None:
            return int(self._num_classes)
        return self.index.num_classes if self.index is not None else None

    @property
    def classes(self) -> list[str] | None:
        return self.index.classes if self.index is not None else None

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            ensure_synthetic(self.root, self.synthetic)

    # --- datasets -----------------------------------------------------------------------------

    def _loaded_index(self) -> DatasetIndex:
        assert self.index is not None, "the datasets are built after __init__ or setup() loaded the index"
        return self.index

    def _decoder(self) -> VideoDecoder:
        return VideoDecoder(timeout=self.decode_timeout, backend=self.backend, channels=self.channels)

    def train_dataset(self) -> VideoClipDataset:
        samples = self._loaded_index().splits["train"]
        short_side = self.decode_short_side or decode_short_side(self.input_size, self.scales)
        transform: PretrainTransform | FinetuneTransform
        if self.mode == "pretrain":
            sampler = self._sampler(self.pretrain_sampling, pretrain=True)
            transform = PretrainTransform(self.input_size, self.scales, self.flip)
        else:
            if self.train_per_class is not None:
                samples = first_per_class(samples, self.train_per_class)
            unlabeled = [path for path, label in samples if label < 0]
            if unlabeled:
                raise ConfigError(
                    f"data.root={self.root}: {len(unlabeled)} training videos have no label (e.g. "
                    f"{unlabeled[0]}); fine-tuning needs class sub-folders or 'path label' lists"
                )
            sampler = self._sampler(self.sampling)
            aug = self.augment
            transform = FinetuneTransform(
                self.input_size, crop_scale=aug["crop_scale"], crop_ratio=aug["crop_ratio"], flip=self.flip,
                rand_augment=aug["rand_augment"], erase_prob=float(aug["erase_prob"]),
            )  # fmt: skip
        return VideoClipDataset(
            samples,
            sampler,
            transform,
            num_sample=self.num_sample,
            decoder=self._decoder(),
            short_side=short_side,
            size_mode=self.sampling_mode,
            defer_pixels=self.device_transforms,
        )

    def _sampler(self, sampling: str, pretrain: bool = False) -> ClipSampler:
        rate, mode = self.sampling_rate, self.sampling_mode
        return ClipSampler(self.num_frames, sampling, rate, mode, pretrain, self.fps)

    def val_dataset(self) -> VideoClipDataset | None:
        samples = self._loaded_index().splits.get("val") or []
        return self.centre_view_dataset(samples) if samples else None

    def centre_view_dataset(
        self, samples: list[tuple[str, int]], max_consecutive_failures: int = 20
    ) -> VideoClipDataset:
        """The fine-tuning validation view of `samples`: one centre clip per video, no augmentation
        (also what the online probe embeds; it passes max_consecutive_failures=1 so that a broken
        video raises instead of being replaced by a random other one)."""
        return VideoClipDataset(
            samples,
            self._sampler(self.sampling),
            EvalTransform(self.input_size, self.sampling_mode),
            train=False,
            decoder=self._decoder(),
            short_side=self.input_size,
            max_consecutive_failures=max_consecutive_failures,
            size_mode=self.sampling_mode,
            # the original validates on its random training clip (then a centre crop)
            random_eval_clip=self.sampling_mode == "original",
            eval_seed=self.seed,
        )

    def test_dataset(self) -> MultiViewDataset | None:
        return self.multiview_dataset("test")

    def multiview_dataset(self, split: str) -> MultiViewDataset | None:
        """Every test view of each video of `split` (None when the split has no videos)."""
        samples = self._loaded_index().splits.get(split) or []
        if not samples:
            return None
        return MultiViewDataset(
            samples,
            self._sampler(self.sampling),
            self.input_size,
            num_clips=self.test_clips,
            num_crops=self.test_crops,
            decoder=self._decoder(),
            size_mode=self.sampling_mode,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.index is None:
            self.index = self.load_index()
        if stage in (None, "fit"):
            self.train_set = self.train_dataset()
        if self.mode == "finetune" and stage in (None, "fit", "validate"):
            self.val_set = self.val_dataset()
        if stage in (None, "test", "predict"):
            self.test_set = self.test_dataset()

    # --- loaders ------------------------------------------------------------------------------

    def _worker_init(self) -> WorkerInit:
        rank = self.trainer.global_rank if self.trainer is not None else rank_zero_only.rank
        return WorkerInit(rank, seed_worker=pl_worker_init_function)

    def _loader(self, dataset, batch_size: int, train: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            drop_last=False,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            worker_init_fn=self._worker_init(),
        )

    def train_dataloader(self) -> DataLoader:
        """Batches that are a function of (seed, epoch, position): see videomae.data.resume."""
        return training_loader(
            self.train_set,
            self.batch_size,
            self.seed,
            self._batches_done,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            worker_init_fn=self._worker_init(),
        )

    # Batches trained on before this fit, when it resumes a checkpoint: Lightning builds the first
    # iterator before it restores its step counter, so the run sets this from the checkpoint.
    resumed_batches = 0

    def _batches_done(self) -> int:
        trainer = self.trainer
        done = 0 if trainer is None else trainer.global_step * trainer.accumulate_grad_batches
        return max(done, self.resumed_batches)

    def val_dataloader(self) -> DataLoader | list:
        """One view per video (fine-tuning only; an empty list when there is no val split)."""
        dataset = getattr(self, "val_set", None)
        return self._loader(dataset, self.batch_size, train=False) if dataset is not None else []

    def test_dataloader(self) -> DataLoader | list:
        dataset = getattr(self, "test_set", None)
        return self._loader(dataset, self.test_batch_size, train=False) if dataset is not None else []

    def predict_dataloader(self) -> DataLoader | list:
        return self.test_dataloader()
