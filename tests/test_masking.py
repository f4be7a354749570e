import pytest
import torch

from videomae.errors import ConfigError
from videomae.masking import MaskGenerator


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
