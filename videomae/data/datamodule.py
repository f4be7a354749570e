"""One LightningDataModule over decord for every dataset, driven by the `data` config."""

import os

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from videomae.data.annotations import read_list
from videomae.data.dataset import VideoClipDataset
from videomae.data.sampling import ClipSampler
from videomae.data.synthetic import SyntheticSpec, ensure_synthetic
from videomae.data.transforms import PretrainTransform
from videomae.errors import ConfigError

SAMPLING = ("dense", "segment")


class VideoDataModule(pl.LightningDataModule):
    """Pre-training clips from a `path label` list under `root` (labels are ignored)."""

    def __init__(
        self,
        name: str,
        root: str | None,
        train_list: str = "train.csv",
        num_frames: int = 16,
        sampling: str = "dense",
        sampling_rate: int = 4,
        input_size: int = 224,
        scales: tuple[float, ...] = (1, 0.875, 0.75, 0.66),
        flip: bool = True,
        num_sample: int = 1,
        batch_size: int = 8,
        num_workers: int = 8,
        pin_memory: bool = True,
        synthetic: dict | None = None,
    ):
        super().__init__()
        if sampling not in SAMPLING:
            raise ConfigError(f"data.sampling={sampling!r} is not one of {', '.join(SAMPLING)}")
        if root is None:
            raise ConfigError(
                f"data.root is not set: dataset={name} needs data.root=DIR, the directory that "
                f"holds the videos and {train_list} (one 'path label' line per video)"
            )
        self.name = name
        self.root = os.path.expanduser(str(root))
        self.train_list = train_list
        self.num_frames = num_frames
        self.sampling = sampling
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.scales = tuple(scales)
        self.flip = flip
        self.num_sample = num_sample
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.synthetic = SyntheticSpec(**synthetic) if synthetic is not None else None
        if self.synthetic is None:
            self.check_root()

    @property
    def data_dir(self) -> str:
        if self.synthetic is not None:
            return os.path.join(self.root, f"synthetic-{self.synthetic.digest()}")
        return self.root

    def check_root(self) -> None:
        """Fail at start-up, naming the key, rather than deep inside a worker."""
        if not os.path.isdir(self.root):
            raise ConfigError(f"data.root={self.root} is not a directory (dataset={self.name})")
        list_path = os.path.join(self.root, self.train_list)
        if not os.path.isfile(list_path):
            raise ConfigError(
                f"data.root={self.root} has no {self.train_list}: expected a list of "
                f"'path label' lines there (set data.train_list to use another file name)"
            )

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            ensure_synthetic(self.root, self.synthetic)

    def setup(self, stage: str | None = None) -> None:
        samples = read_list(os.path.join(self.data_dir, self.train_list))
        self.train_set = VideoClipDataset(
            samples,
            ClipSampler(self.num_frames, self.sampling, self.sampling_rate),
            PretrainTransform(self.input_size, self.scales, self.flip),
            num_sample=self.num_sample,
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )
