"""A callback the distributed tests inject through `+callbacks.probe`: what each rank trained on."""

import hashlib
import json
import os

import pytorch_lightning as pl
import torch


class RankProbe(pl.Callback):
    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.indices: list[list[int]] = []
        self.videos: list[str] = []  # a digest of each batch's clips: the augmentations too
        self.masks: list[str] = []

    def on_fit_start(self, trainer, pl_module):
        forward = pl_module.model.forward

        def recording(videos, mask, targets=None):
            if pl_module.model.training:  # not the reconstruction pictures drawn on rank 0
                self.masks.append(hashlib.sha1(mask.cpu().numpy().tobytes()).hexdigest())
            return forward(videos, mask, targets)

        pl_module.model.forward = recording

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.indices.append(batch["index"].tolist())
        self.videos.append(hashlib.sha1(batch["video"].cpu().contiguous().numpy().tobytes()).hexdigest())

    def on_train_end(self, trainer, pl_module):
        weights = torch.cat([p.detach().flatten() for p in pl_module.model.parameters()])
        record = {
            "rank": trainer.global_rank,
            "world": trainer.world_size,
            "indices": self.indices,
            "videos": self.videos,
            "steps": trainer.global_step,
            "masks": self.masks,
            "weights": hashlib.sha1(weights.numpy().tobytes()).hexdigest(),
        }
        os.makedirs(self.out_dir, exist_ok=True)
        with open(os.path.join(self.out_dir, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)
