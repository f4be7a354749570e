"""The online probe's embedding pass: every rank embeds its share of the fixed subsets with the
frozen encoder (in the training step's precision), and rank 0 gets them all."""

import torch
from torch.utils.data import DataLoader

from videomae.data.workers import WorkerInit
from videomae.eval.features import pooled_features
from videomae.training.online_probe_subsets import Readable, collate
from videomae.utils.pixels import normalize_uint8


def embed_subsets(
    trainer, pl_module, dataset, count: int, batch_size: int, num_workers: int, attentive: bool
):
    """Features (M, D) and subset positions (M,) of every readable video, gathered from all
    ranks (each rank embeds positions rank, rank + world, ...), this rank's failures, and with
    `attentive` the tokens (M, N, D) the mean-pooled features come from (else None)."""
    rank, world = trainer.global_rank, trainer.world_size
    mine = list(range(rank, count, world))
    loader = DataLoader(
        Readable(dataset, mine),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=WorkerInit(rank),  # SLURM's signals are the training process's to handle
    )
    device = pl_module.device
    stats = (pl_module.model.pixel_mean, pl_module.model.pixel_std)
    feature_parts: list[torch.Tensor] = []
    position_parts: list[torch.Tensor] = []
    token_parts: list[torch.Tensor] = []
    failed: list[str] = []
    for batch in loader:
        failed += batch["failed"]
        if batch["video"] is None:
            continue
        with trainer.precision_plugin.forward_context():  # the training step's autocast
            videos = normalize_uint8(batch["video"].to(device), *stats)
            if attentive:  # pooled_features' mean, kept before pooling for the attentive head
                token_parts.append(pl_module.model.encoder(videos).float())
                feats = token_parts[-1].mean(dim=1)
            else:
                feats = pooled_features(pl_module.model, videos)
        feature_parts.append(feats.float())
        position_parts.append(batch["position"].to(device))
    dim = pl_module.model.encoder.embed_dim
    features = torch.cat(feature_parts) if feature_parts else torch.zeros(0, dim, device=device)
    positions = (
        torch.cat(position_parts) if position_parts else torch.zeros(0, dtype=torch.long, device=device)
    )
    tokens = torch.cat(token_parts) if token_parts else None
    if attentive and tokens is None:
        tokens = torch.zeros(0, pl_module.model.encoder.num_tokens, dim, device=device)
    if world > 1:  # pad every rank's share to the same length; -1 marks padding
        size = -(-count // world)
        pad = size - len(positions)
        features = torch.cat([features, features.new_zeros(pad, dim)])
        positions = torch.cat([positions, positions.new_full((pad,), -1)])
        features = trainer.strategy.all_gather(features).flatten(0, 1)
        positions = trainer.strategy.all_gather(positions).flatten(0, 1)
        keep = positions >= 0
        if tokens is not None:
            tokens = torch.cat([tokens, tokens.new_zeros(pad, *tokens.shape[1:])])
            tokens = trainer.strategy.all_gather(tokens).flatten(0, 1)[keep]
        features, positions = features[keep], positions[keep]
    return features, positions, failed, tokens
