"""Videos as tube patches, and the per-patch normalisation of the normalized-pixel loss.

`normalize_patches` makes the loss's target; `denormalize_patches` is its inverse, which turns a
prediction back into pixels with the statistics of the same patch of the original clip. Both use
`patch_statistics`, so the formula exists once.
"""

import torch

PATCH_NORM_EPS = 1e-6  # added to the std, as in the original code


def patchify(videos: torch.Tensor, tubelet_size: int, patch_size: int) -> torch.Tensor:
    """b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c."""
    B, C, T, H, W = videos.shape
    t, h, w = T // tubelet_size, H // patch_size, W // patch_size
    x = videos.reshape(B, C, t, tubelet_size, h, patch_size, w, patch_size)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(B, t * h * w, tubelet_size * patch_size * patch_size, C)


def unpatchify(
    patches: torch.Tensor, grid: tuple[int, int, int], tubelet_size: int, patch_size: int
) -> torch.Tensor:
    """b (t h w) (p0 p1 p2) c -> b c (t p0) (h p1) (w p2): the inverse of `patchify`."""
    B, _, _, C = patches.shape
    t, h, w = grid
    x = patches.reshape(B, t, h, w, tubelet_size, patch_size, patch_size, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(B, C, t * tubelet_size, h * patch_size, w * patch_size)


def patch_statistics(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std + eps) of each patch and channel of (B, N, K, C) pixels; the std is unbiased."""
    var, mean = torch.var_mean(patches, dim=-2, correction=1, keepdim=True)
    return mean, var.sqrt() + PATCH_NORM_EPS


def normalize_patches(patches: torch.Tensor) -> torch.Tensor:
    """The normalized-pixel target: each patch and channel of (B, N, K, C) pixels to zero mean, unit std."""
    mean, scale = patch_statistics(patches)
    return (patches - mean) / scale


def denormalize_patches(normalized: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The inverse of `normalize_patches`, with the statistics of `reference` (the original pixels)."""
    mean, scale = patch_statistics(reference)
    return normalized * scale + mean
