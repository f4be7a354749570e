"""Token masks for pre-training: tube masking (the paper's default) and per-token random masking."""

from dataclasses import dataclass

import torch

from videomae.utils.config_fields import Settings, setting
from videomae.utils.errors import ConfigError

MASK_TYPES = ("tube", "random")
RUNNING_CELL_RATIOS = (0.25, 0.5, 0.75)


@dataclass(frozen=True, kw_only=True)
class MaskConfig(Settings):
    """`mask.*`: which tokens the encoder does not see (pre-training and distillation)."""

    GROUP = "mask"
    type: str = setting(checked=False)  # tube (the paper's) | random
    ratio: float = setting()  # masked share of the tokens, in (0, 1); the paper's 0.9
    # VideoMAE V2 dual masking: this share of the masked tokens is not decoded (0, 0.25, 0.5, 0.75)
    decoder_ratio: float = setting(0.0, low=0, high=1, high_open=True)

    def check(self) -> None:
        if self.type not in MASK_TYPES:
            raise ConfigError(f"mask.type={self.type!r} is not one of {', '.join(MASK_TYPES)}")
        if not 0.0 < float(self.ratio) < 1.0:
            raise ConfigError(
                f"mask.ratio={self.ratio} must be between 0 and 1 (exclusive); the paper uses 0.9"
            )
        if self.decoder_ratio and self.decoder_ratio not in RUNNING_CELL_RATIOS:
            raise ConfigError(
                f"mask.decoder_ratio={self.decoder_ratio} is not one of "
                f"{', '.join(map(str, (0.0, *RUNNING_CELL_RATIOS)))} (running cells are 2x2)"
            )


@dataclass(frozen=True)
class MaskGenerator:
    """Draws (B, N) bool masks, True = masked, on a (t, h, w) token grid.

    tube: `int(ratio * h * w)` spatial positions per sample, masked in every time slot.
    random: `int(ratio * t * h * w)` tokens per sample.
    Every sample of a batch gets its own mask with the same masked count.

    decoder_ratio > 0 adds VideoMAE V2 dual masking: `draw` also returns the masked tokens the
    decoder reconstructs, a `1 - decoder_ratio` share of them, chosen by running-cell masking.
    """

    type: str
    ratio: float
    grid: tuple[int, int, int]
    decoder_ratio: float = 0.0

    @classmethod
    def of(cls, config: MaskConfig, grid: tuple[int, int, int]) -> "MaskGenerator":
        """The generator of `config` on the token grid of a model."""
        return cls(config.type, float(config.ratio), grid, float(config.decoder_ratio))

    def __post_init__(self):
        # the settings' own rules first
        MaskConfig(type=self.type, ratio=self.ratio, decoder_ratio=self.decoder_ratio)
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

    @property
    def num_decoded(self) -> int:
        """Masked tokens the decoder reconstructs per sample."""
        return self.num_masked - int(self.decoder_ratio * self.num_masked)

    def draw(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(encoder mask, decoder targets): targets is None without decoder masking (all masked)."""
        mask = self(batch_size, device, generator)
        if not self.decoder_ratio:
            return mask, None
        return mask, self.decoder_targets(mask, generator)

    def decoder_targets(self, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`num_decoded` masked tokens per sample, those the running cell keeps first.

        The running cell (VideoMAE V2) drops `4 * decoder_ratio` of every 2x2 patch cell, the
        dropped slots moving by one each time step, from a random phase per sample. The masked
        tokens it keeps vary slightly in number from sample to sample; ties are broken at random
        to keep exactly `num_decoded`, so the batch stays rectangular.
        """
        B, device = mask.shape[0], mask.device
        t, h, w = self.grid
        dropped_per_cell = int(4 * self.decoder_ratio)
        phase = torch.randint(0, 4, (B, 1), device=device, generator=generator)
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        cell_index = ((rows[:, None] % 2) * 2 + cols[None, :] % 2).flatten()  # (h*w,)
        time = torch.arange(t, device=device)[:, None]  # (t, 1)
        # slot k of the cell is dropped at time step s when (k - s - phase) mod 4 < dropped_per_cell
        rolled = (cell_index[None, None, :] - time[None] - phase[:, :, None]) % 4  # (B, t, h*w)
        keep = (rolled >= dropped_per_cell).reshape(B, t * h * w)
        noise = torch.rand(mask.shape, device=device, generator=generator)
        score = torch.where(mask, keep.float() + noise * 0.5, torch.full_like(noise, -1.0))
        chosen = score.topk(self.num_decoded, dim=1).indices
        return torch.zeros_like(mask).scatter_(1, chosen, True)
