"""FLOPs per clip from the model's shapes (videomae.perf.flops) against an independent count:
torch.utils.flop_counter.FlopCounterMode on the real models, forward and training step."""

from types import SimpleNamespace

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from videomae.models import create_classifier, create_pretrain_model
from videomae.models.masking import MaskGenerator
from videomae.perf.flops import ClipFlops, classifier_flops, module_flops, pretrain_flops
from videomae.perf.peak import peak_flops, precision_kind, table_peak
from videomae.training.timing import StepTiming, Window

# FlopCounterMode counts only matmuls, as videomae.perf.flops does, so the two agree exactly
# (to float rounding), forward and training step alike. Attention runs on torch's math backend
# here: the counter does not see inside CPU's fused attention kernel (it counts 0 FLOPs for it).
FORWARD_TOLERANCE = 1e-6
TRAIN_TOLERANCE = 1e-6
SMALL = dict(embed_dim=96, depth=2, num_heads=2, decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=2)


def counted(model, *inputs, train: bool) -> int:
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):
        out = model(*inputs)
        if train:
            loss = out[0] if isinstance(out, tuple) else out.sum()
            loss.backward()
    return counter.get_total_flops() // inputs[0].shape[0]


@pytest.mark.parametrize("decoder_ratio", [0.0, 0.5])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_pretrain_flops_match_flop_counter(decoder_ratio, checkpointing):
    torch.manual_seed(0)
    model = create_pretrain_model("vit_tiny", num_frames=4, img_size=64, **SMALL)
    model.set_grad_checkpointing(checkpointing)
    masks = MaskGenerator("tube", 0.75, model.grid, decoder_ratio)
    mask, targets = masks.draw(2)
    videos = torch.randn(2, 3, 4, 64, 64)
    ours = pretrain_flops(model, masks.num_masked, masks.num_decoded)
    with torch.no_grad():
        forward = counted(model, videos, mask, targets, train=False)
    assert ours.forward == pytest.approx(forward, rel=FORWARD_TOLERANCE)
    train = counted(model, videos, mask, targets, train=True)
    assert ours.train == pytest.approx(train, rel=TRAIN_TOLERANCE)
    if checkpointing:  # the recomputed forward of the blocks is in both counts
        assert ours.train > 3 * ours.forward


def test_classifier_flops_match_flop_counter():
    torch.manual_seed(0)
    model = create_classifier("vit_tiny", 5, num_frames=4, img_size=64, embed_dim=96, depth=2, num_heads=2)
    videos = torch.randn(2, 3, 4, 64, 64)
    ours = classifier_flops(model)
    with torch.no_grad():
        assert ours.forward == pytest.approx(counted(model, videos, train=False), rel=FORWARD_TOLERANCE)
    assert ours.train == pytest.approx(counted(model, videos, train=True), rel=TRAIN_TOLERANCE)


def test_vit_base_paper_size_flops():
    """vit_base 16x224x224 at mask 0.9 on the meta device: 1568 tokens, 160 visible."""
    with torch.device("meta"):
        model = create_pretrain_model("vit_base")
    masks = MaskGenerator("tube", 0.9, model.grid)
    ours = pretrain_flops(model, masks.num_masked)
    # encoder alone on the 160 visible tokens: 12 blocks x (24 d^2 n + 4 n^2 d) with d 768
    encoder = 12 * (24 * 768**2 * 160 + 4 * 160**2 * 768)
    assert ours.forward > encoder
    assert 40e9 < ours.forward < 80e9  # the decoder on 1568 tokens at width 384 adds about as much


def test_peaks():
    assert precision_kind("bf16-mixed") == "bf16"
    assert precision_kind("16-mixed") == "fp16"
    assert precision_kind(32) == "fp32"
    assert table_peak("NVIDIA H200", "bf16") == pytest.approx(989.4)
    assert table_peak("NVIDIA H100 PCIe", "bf16") == pytest.approx(756.5)
    assert table_peak("NVIDIA A100-SXM4-80GB", "fp32") == pytest.approx(19.5)
    assert table_peak("Tesla V100-SXM2-16GB", "bf16") is None
    assert table_peak("Some Future GPU", "bf16") is None
    assert peak_flops(torch.device("cpu"), "32", 2.5) == (2.5e12, "perf.peak_tflops")
    rate, source = peak_flops(torch.device("cpu"), "bf16-mixed")
    assert rate > 1e8 and source.startswith("measured matmul")


def test_module_flops_sees_through_wrappers():
    """A LightningModule's model under torch.compile's or FSDP's wrapper (`_orig_mod`, `module`)."""
    model = create_pretrain_model("vit_tiny", num_frames=4, img_size=64, **SMALL)
    masks = MaskGenerator("tube", 0.75, model.grid, 0.5)
    expected = pretrain_flops(model, masks.num_masked, masks.num_decoded)
    for wrapped in (model, SimpleNamespace(module=model), SimpleNamespace(_orig_mod=model)):
        assert module_flops(SimpleNamespace(model=wrapped, mask_generator=masks)) == expected
    assert module_flops(SimpleNamespace(model=torch.nn.Linear(2, 2))) is None


def test_a_measured_peak_that_the_model_beats_is_timed_again():
    """A matmul timed while the machine was busy gives too low a peak, and an MFU over 100%: the
    peak is timed again. A peak from the table or perf.peak_tflops is never changed."""
    timing = StepTiming(flops=ClipFlops(forward=1e9, recomputed=0.0, embed=0.0))
    timing.on_fit_start(SimpleNamespace(precision="32-true"), SimpleNamespace(device=torch.device("cpu")))
    assert timing.peak_source.startswith("measured matmul")
    real = timing.peak
    window = Window()
    window.steps, window.clips, window.model = 1, 1, 10 * timing.flops.train / real  # a tenth of the peak
    timing.peak = real / 1000  # as timed on a busy machine: the model "beats" it 100 times over
    assert timing.mfu(window) < 1 and timing.peak > real / 100
    timing.peak, timing.peak_source = real / 1000, "perf.peak_tflops"
    assert timing.mfu(window) == pytest.approx(100) and timing.peak == real / 1000
