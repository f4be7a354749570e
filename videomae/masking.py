"""Token masks for pre-training: tube masking (the paper's default) and per-token random masking."""

from dataclasses import dataclass

import torch

from videomae.errors import ConfigError

MASK_TYPES = ("tube", "random")


@dataclass(frozen=True)
class MaskGenerator:
    """Draws (B, N) bool masks, True = masked, on a (t, h, w) token grid.

    tube: `int(ratio * h * w)` spatial positions per sample, masked in every time slot.
    random: `int(ratio * t * h * w)` tokens per sample.
    Every sample of a batch gets its own mask with the same masked count.
    """

    type: str
    ratio: float
    grid: tuple[int, int, int]

    def __post_init__(self):
        if self.type not in MASK_TYPES:
            raise ConfigError(f"mask.type={self.type!r} is not one of {', '.join(MASK_TYPES)}")
        if not 0.0 < float(self.ratio) < 1.0:
            raise ConfigError(
                f"mask.ratio={self.ratio} must be between 0 and 1 (exclusive); the paper uses 0.9"
            )
        masked = int(self.ratio * self._pool)
        if masked == 0:
            raise ConfigError(
                f"mask.ratio={self.ratio} masks no token on the {self._pool}-token grid; raise mask.ratio"
            )
        if masked == self._pool:
            raise ConfigError(
                f"mask.ratio={self.ratio} leaves no visible token on the {self._pool}-token grid; "
                "lower mask.ratio"
            )

    @property
    def _pool(self) -> int:
        t, h, w = self.grid
        return h * w if self.type == "tube" else t * h * w

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def num_masked(self) -> int:
        """Masked tokens per sample."""
        per_pool = int(self.ratio * self._pool)
        return per_pool * self.grid[0] if self.type == "tube" else per_pool

    def __call__(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        t = self.grid[0]
        pool, masked = self._pool, int(self.ratio * self._pool)
        noise = torch.rand(batch_size, pool, device=device, generator=generator)
        ranks = noise.argsort(dim=1).argsort(dim=1)
        mask = ranks < masked
        if self.type == "tube":
            mask = mask.unsqueeze(1).expand(batch_size, t, pool).reshape(batch_size, t * pool)
        return mask
