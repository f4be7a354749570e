"""The data's one Lightning face: loaders over the dataset factory's datasets, and the resume position.

`VideoDataModule` serves pre-training: a training loader and nothing else, so Lightning builds no
validation loop. `LabeledDataModule` (fine-tuning) adds a validation loader (one view per video)
and a test loader (every test view of a video per item). `create_datamodule` picks the one a run's
mode needs.

The index is read once, by `load()` (videomae.data.factory.open_datasets): a run calls it right
after building the datamodule, before the model (fine-tuning's head needs the classes, the online
probe the splits); `setup` calls it for a datamodule handed straight to a Trainer. Building the
datamodule reads no file, so the sweep preflight checks a job's settings without its data.

Clips leave the loader as uint8; the LightningModule normalises them on its device. Readers are
created inside the workers; the Trainer puts a DistributedSampler under the loaders with DDP.
"""

import pytorch_lightning as pl
from lightning_fabric.utilities.seed import pl_worker_init_function
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from videomae.data.batches import ClipBatch, TrainBatch, WindowBatch, flatten_repeats, make_clips
from videomae.data.config import DataConfig
from videomae.data.dataset import MultiViewDataset, VideoClipDataset
from videomae.data.factory import DatasetFactory, check_mode, data_dir, open_datasets, synthetic_spec, warn
from videomae.data.resume import training_loader
from videomae.data.synthetic import ensure_synthetic
from videomae.data.workers import WorkerInit


class VideoDataModule(pl.LightningDataModule):
    """The training loader over `config`'s dataset (see the module docstring)."""

    def __init__(self, config: DataConfig, mode: str = "pretrain", seed: int = 0):
        super().__init__()
        check_mode(config, mode)  # the run's part of the checks: before any data is read
        self.config, self.mode, self.seed = config, mode, int(seed)
        self.datasets: DatasetFactory | None = None

    def prepare_data(self) -> None:
        spec = synthetic_spec(self.config)
        if spec is not None:
            ensure_synthetic(self.config.root_dir, spec)

    def load(self) -> DatasetFactory:
        """The dataset factory over the index, read on the first call (see the module docstring)."""
        if self.datasets is None:
            say = warn if rank_zero_only.rank == 0 else None  # what the index passed over, said once
            self.datasets = open_datasets(self.config, self.mode, self.seed, say)
        return self.datasets

    @property
    def data_dir(self) -> str:
        return data_dir(self.config)

    @property
    def num_classes(self) -> int | None:
        """data.num_classes, else (once loaded) what the dataset defines."""
        return self.datasets.num_classes if self.datasets is not None else self.config.num_classes

    @property
    def classes(self) -> list[str] | None:
        return self.datasets.classes if self.datasets is not None else None

    @property
    def test_batch_size(self) -> int:
        return self.config.videos_per_test_batch

    def train_dataset(self) -> VideoClipDataset:
        return self.load().train()

    def setup(self, stage: str | None = None) -> None:
        self.load()
        if stage in (None, "fit"):
            self.train_set = self.train_dataset()

    # --- loaders ------------------------------------------------------------------------------

    def _worker_init(self) -> WorkerInit:
        rank = self.trainer.global_rank if self.trainer is not None else rank_zero_only.rank
        return WorkerInit(rank, seed_worker=pl_worker_init_function)

    def _loader(self, dataset: Dataset, batch_size: int) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            drop_last=False,
            num_workers=self.config.num_workers,
            pin_memory=self.config.pin_memory,
            worker_init_fn=self._worker_init(),
        )

    def train_dataloader(self) -> DataLoader:
        """Batches that are a function of (seed, epoch, position): see videomae.data.resume."""
        return training_loader(
            self.train_set,
            self.config.batch_size,
            self.seed,
            self._batches_done,
            num_workers=self.config.num_workers,
            pin_memory=self.config.pin_memory,
            worker_init_fn=self._worker_init(),
        )

    # Batches trained on before this fit, when it resumes a checkpoint: Lightning builds the first
    # iterator before it restores its step counter, so the run sets this from the checkpoint.
    resumed_batches = 0

    def _batches_done(self) -> int:
        trainer = self.trainer
        done = 0 if trainer is None else trainer.global_step * trainer.accumulate_grad_batches
        return max(done, self.resumed_batches)

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """A training batch of repeated clips (the training set's `num_sample` > 1) becomes one clip
        per row, each with its video's label (videomae.data.batches.flatten_repeats)."""
        train_set = getattr(self, "train_set", None)
        if self.trainer is not None and self.trainer.training and isinstance(train_set, VideoClipDataset):
            repeats: TrainBatch = batch
            return flatten_repeats(repeats, train_set.num_sample, train_set.defer_pixels)
        return batch

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """With data.device_transforms, a training WindowBatch becomes a ClipBatch here, on the
        training device: crop, resize and flip, batched (videomae.data.device_pixels)."""
        train_set = getattr(self, "train_set", None)
        if self.trainer is not None and self.trainer.training and getattr(train_set, "defer_pixels", False):
            windows: WindowBatch = batch
            crop_params = windows["crops"].flatten(0, 1)  # one row per clip, as the videos
            clips: ClipBatch = make_clips(windows)
            clips["crop_params"] = crop_params
            return clips
        return batch


class LabeledDataModule(VideoDataModule):
    """Fine-tuning's: the training loader, a validation loader (one view per video of the
    validation split) and a test loader (every test view of each test video)."""

    def __init__(self, config: DataConfig, mode: str = "finetune", seed: int = 0):
        super().__init__(config, mode, seed)

    def validation_dataset(self) -> VideoClipDataset | MultiViewDataset | None:
        return self.load().validation()

    def test_dataset(self) -> MultiViewDataset | None:
        return self.load().multiview("test")

    @property
    def val_batch_size(self) -> int:
        return self.config.batch_size

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if stage in (None, "fit", "validate"):
            self.val_set = self.validation_dataset()
        if stage in (None, "test", "predict"):
            self.test_set = self.test_dataset()

    def val_dataloader(self) -> DataLoader | list:
        """One view per video (an empty list when there is no validation split)."""
        dataset = getattr(self, "val_set", None)
        return self._loader(dataset, self.val_batch_size) if dataset is not None else []

    def test_dataloader(self) -> DataLoader | list:
        dataset = getattr(self, "test_set", None)
        return self._loader(dataset, self.test_batch_size) if dataset is not None else []

    def predict_dataloader(self) -> DataLoader | list:
        return self.test_dataloader()


def create_datamodule(config: DataConfig, mode: str = "pretrain", seed: int = 0) -> VideoDataModule:
    """The datamodule a run of `mode` needs: pre-training's has no validation loader."""
    cls = LabeledDataModule if mode == "finetune" else VideoDataModule
    return cls(config, mode, seed)
