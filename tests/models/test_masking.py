import pytest
import torch

from videomae.models.masking import MaskGenerator
from videomae.utils.errors import ConfigError


def test_tube_mask_is_the_same_in_every_time_slot():
    gen = MaskGenerator("tube", 0.9, (8, 14, 14))
    mask = gen(4)
    assert mask.shape == (4, 1568) and mask.dtype == torch.bool
    per_slot = mask.view(4, 8, 196)
    assert (per_slot == per_slot[:, :1]).all()
    assert (per_slot.sum(-1) == int(0.9 * 196)).all()
    assert gen.num_masked == 8 * int(0.9 * 196) == int(mask[0].sum())


def test_random_mask_count_per_sample():
    gen = MaskGenerator("random", 0.75, (4, 4, 4))
    mask = gen(6)
    assert (mask.sum(1) == int(0.75 * 64)).all()
    per_slot = mask.view(6, 4, 16)
    assert not (per_slot == per_slot[:, :1]).all()


@pytest.mark.parametrize("kind", ["tube", "random"])
def test_masks_are_fresh_per_sample_and_per_call(kind):
    gen = MaskGenerator(kind, 0.9, (8, 14, 14))
    a, b = gen(8), gen(8)
    assert len({tuple(m.tolist()) for m in a}) == 8
    assert not torch.equal(a, b)


def test_seeded_generator_repeats():
    gen = MaskGenerator("tube", 0.9, (2, 4, 4))
    a = gen(3, generator=torch.Generator().manual_seed(1))
    b = gen(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize("ratio", [1.5, 1.0, 0.0, -0.2])
def test_ratio_outside_the_open_interval_names_the_key(ratio):
    with pytest.raises(ConfigError, match=r"mask\.ratio"):
        MaskGenerator("tube", ratio, (8, 14, 14))


def test_ratio_that_masks_nothing_or_everything_names_the_key():
    with pytest.raises(ConfigError, match=r"mask\.ratio=0.2 masks no token"):
        MaskGenerator("tube", 0.2, (2, 2, 2))
    with pytest.raises(ConfigError, match=r"mask.type='block' is not one of tube, random"):
        MaskGenerator("block", 0.9, (2, 2, 2))


@pytest.mark.parametrize("decoder_ratio", [0.25, 0.5, 0.75])
def test_dual_masking_decodes_a_running_cell_share_of_the_masked_tokens(decoder_ratio):
    gen = MaskGenerator("tube", 0.9, (8, 14, 14), decoder_ratio=decoder_ratio)
    mask, targets = gen.draw(16)
    assert (targets & ~mask).sum() == 0  # only masked tokens are reconstructed
    assert (targets.sum(1) == gen.num_decoded).all()
    assert gen.num_decoded == gen.num_masked - int(decoder_ratio * gen.num_masked)
    # Within each time step, the decoded tokens follow the running cell: in every 2x2 cell the
    # same slots are dropped for every masked position, and the dropped slots move over time.
    dropped = (mask & ~targets).view(16, 8, 14, 14)
    cells = dropped.view(16, 8, 7, 2, 7, 2).permute(0, 1, 2, 4, 3, 5).reshape(16, 8, 49, 4)
    per_slot = cells.sum(2)  # (B, t, 4): how often each cell slot is dropped
    top = per_slot.topk(int(4 * decoder_ratio), dim=-1).indices.sort(-1).values
    assert not (top[:, 1:] == top[:, :1]).all()  # the pattern runs over time
    assert len({tuple(t[0].tolist()) for t in top}) > 1  # and starts at a random phase


def test_without_decoder_ratio_targets_are_all_masked_tokens():
    mask, targets = MaskGenerator("tube", 0.9, (2, 4, 4)).draw(3)
    assert targets is None and mask.shape == (3, 32)


def test_decoder_ratio_must_fit_the_running_cell():
    with pytest.raises(ConfigError, match=r"mask.decoder_ratio=0.3 is not one of"):
        MaskGenerator("tube", 0.9, (2, 4, 4), decoder_ratio=0.3)
