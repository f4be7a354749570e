import inspect

import pytest
import torch
import torch.nn.functional as F
from helpers import REPO, TINY_MODEL, tiny_model
from hydra import compose, initialize_config_dir
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

from videomae import MODEL_SIZES, create_classifier, create_pretrain_model
from videomae.models import PRETRAINING_ONLY, VideoMAEClassifier, VideoMAEPretrain
from videomae.models.layers import sinusoid_table
from videomae.models.masking import MaskGenerator
from videomae.models.patches import patchify

# (embed_dim, depth, heads, decoder dim, decoder heads, patch) from the paper and VideoMAE V2
PAPER_SIZES = {
    "vit_small": (384, 12, 6, 192, 3, 16),
    "vit_base": (768, 12, 12, 384, 6, 16),
    "vit_large": (1024, 24, 16, 512, 8, 16),
    "vit_huge": (1280, 32, 16, 640, 8, 16),
    "vit_giant": (1408, 40, 16, 512, 8, 14),
}


@pytest.mark.parametrize("name", list(PAPER_SIZES))
def test_paper_sizes(name):
    with torch.device("meta"):
        model = create_pretrain_model(name)
    dim, depth, heads, dec_dim, dec_heads, patch = PAPER_SIZES[name]
    assert model.encoder.embed_dim == dim and len(model.encoder.blocks) == depth
    assert model.encoder.blocks[0].attn.num_heads == heads
    assert model.mask_token.shape == (1, 1, dec_dim) and len(model.decoder.blocks) == 4
    assert model.decoder.blocks[0].attn.num_heads == dec_heads
    assert model.decoder.head.out_features == 3 * 2 * patch * patch
    assert model.encoder.num_tokens == 8 * (224 // patch) ** 2


def test_vit_base_parameter_count_matches_the_paper_model():
    with torch.device("meta"):
        encoder = create_classifier("vit_base", 400).encoder
    # ViT-B/16 with a 2x16x16 tube embedding: 86.2M encoder parameters.
    assert sum(p.numel() for p in encoder.parameters()) == pytest.approx(86.2e6, rel=0.005)


@pytest.mark.parametrize("name", list(MODEL_SIZES))
def test_model_configs_match_the_registry(name):
    with initialize_config_dir(config_dir=f"{REPO}/configs", version_base="1.3"):
        # a paper dataset: the demo dataset shrinks vit_tiny to 4 blocks
        cfg = compose("pretrain", overrides=["dataset=k400", f"model={name}"])
    assert cfg.model.name == name
    for key, value in MODEL_SIZES[name].items():
        assert cfg.model[key] == pytest.approx(value), key


def test_position_table_equals_the_reference_formula():
    for n, d in [(1568, 768), (10, 6), (7, 5)]:
        assert torch.equal(sinusoid_table(n, d), get_sinusoid_encoding_table(n, d))


def tiny(**overrides):
    return tiny_model(**{"num_frames": 16, "img_size": 224, **overrides})  # the size's own clip


def test_forward_shapes_and_backward():
    model = tiny(num_frames=8, img_size=48)
    mask = MaskGenerator("tube", 0.9, model.grid)(2)
    loss, pred = model(torch.randn(2, 3, 8, 48, 48), mask)
    assert model.grid == (4, 3, 3)
    assert pred.shape == (2, 4 * int(0.9 * 9), 3 * 2 * 16 * 16)
    assert loss.ndim == 0 and loss.dtype == torch.float32
    loss.backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.mask_token.grad.abs().sum() > 0


def test_other_frame_counts_and_sizes_rebuild_the_position_tables():
    model = tiny(num_frames=4, img_size=32)
    videos = torch.randn(1, 3, 8, 64, 48)  # not the configured size
    grid = model.encoder.patch_embed.grid(8, 64, 48)
    mask = MaskGenerator("tube", 0.75, grid)(1)
    loss, pred = model(videos, mask)
    assert torch.isfinite(loss) and pred.shape[1] == int(mask.sum())
    big = tiny(num_frames=8, img_size=(64, 48))
    big.load_state_dict(model.state_dict())  # tables are not weights: the same state dict fits
    torch.testing.assert_close(big(videos, mask)[1], pred)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_frames=7), "num_frames=7 is not divisible by tubelet_size=2"),
        (dict(img_size=50), "not divisible by patch_size=16"),
        (dict(embed_dim=30, num_heads=4), "not divisible by num_heads=4"),
    ],
)
def test_bad_sizes_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)


def test_bad_input_shapes_fail_clearly():
    model = tiny(num_frames=4, img_size=32)
    with pytest.raises(ValueError, match="not divisible by tubelet_size"):
        model(torch.randn(1, 3, 5, 32, 32), torch.zeros(1, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask shape"):
        model(torch.randn(1, 3, 4, 32, 32), torch.zeros(1, 9, dtype=torch.bool))
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, :4] = True
    mask[1, :5] = True
    with pytest.raises(ValueError, match="same number of masked tokens"):
        model(torch.randn(2, 3, 4, 32, 32), mask)


def test_grad_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    model = tiny(num_frames=4, img_size=32, depth=2, drop_path_rate=0.0)
    videos, mask = torch.randn(2, 3, 4, 32, 32), MaskGenerator("tube", 0.5, model.grid)(2)
    loss, _ = model(videos, mask)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    loss_ckpt, _ = model(videos, mask)
    loss_ckpt.backward()
    torch.testing.assert_close(loss_ckpt, loss)
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g)


def test_target_is_fp32_under_autocast():
    model = tiny(num_frames=4, img_size=32)
    videos, mask = torch.randn(2, 3, 4, 32, 32), MaskGenerator("tube", 0.5, model.grid)(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, pred = model(videos, mask)
        target = model.forward_target(patchify(videos, 2, 16), mask)
    assert pred.dtype == torch.bfloat16
    assert target.dtype == torch.float32 and loss.dtype == torch.float32
    torch.testing.assert_close(target, model.forward_target(patchify(videos, 2, 16), mask))


def test_layer_scale_and_drop_path_are_wired():
    model = tiny(num_frames=4, img_size=32, init_values=0.1, drop_path_rate=0.2, depth=2)
    assert model.encoder.blocks[0].gamma_1.shape == (32,)
    assert model.encoder.blocks[1].drop_path.drop_prob == pytest.approx(0.2)
    assert "encoder.blocks.0.gamma_1" in model.state_dict()


def test_dual_masking_reconstructs_only_the_decoder_targets():
    torch.manual_seed(0)
    model = tiny(num_frames=8, img_size=64)
    gen = MaskGenerator("tube", 0.9, model.grid, decoder_ratio=0.5)
    videos = torch.randn(2, 3, 8, 64, 64)
    mask, targets = gen.draw(2)
    loss, pred = model(videos, mask, targets)
    assert pred.shape[1] == gen.num_decoded < gen.num_masked
    expected = torch.nn.functional.mse_loss(pred, model.forward_target(patchify(videos, 2, 16), targets))
    torch.testing.assert_close(loss, expected)
    # Decoding every masked token is the plain VideoMAE path.
    full_loss, full_pred = model(videos, mask, mask)
    torch.testing.assert_close(full_loss, model(videos, mask)[0])
    assert full_pred.shape[1] == gen.num_masked


def test_visible_only_embedding_equals_embedding_everything_then_dropping():
    torch.manual_seed(0)
    encoder = tiny(num_frames=4, img_size=32, depth=2).encoder
    videos = torch.randn(3, 3, 4, 32, 32)
    mask = MaskGenerator("random", 0.5, encoder.grid)(3)
    x = encoder.patch_embed(videos)  # the original order: embed all, add positions, drop masked
    x = (x + encoder.pos_embed(x.shape[1], x))[~mask].reshape(3, -1, x.shape[-1])
    torch.testing.assert_close(encoder(videos, mask), encoder.forward_tokens(x), rtol=1e-5, atol=1e-5)


def test_grad_checkpointing_cuts_the_activations_kept_for_backward():
    model = tiny(num_frames=8, img_size=64, depth=8, embed_dim=64, num_heads=2, decoder_depth=2)
    videos = torch.randn(2, 3, 8, 64, 64)
    mask = MaskGenerator("tube", 0.5, model.grid)(2)

    def saved_bytes() -> int:
        total = 0

        def pack(tensor):
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(videos, mask)[0]  # what forward keeps until backward
        loss.backward()
        return total

    plain = saved_bytes()
    model.set_grad_checkpointing(True)
    assert saved_bytes() < 0.5 * plain


def test_both_models_have_timms_feature_methods():
    """forward_features / forward_head on either model, so that feature extraction asks the model."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 32, 32)
    pretrain, classifier = tiny_model().eval(), tiny_model(3).eval()
    with torch.no_grad():
        tokens = pretrain.encoder(x)
        assert torch.equal(pretrain.forward_features(x), tokens.mean(dim=1))
        mean = tokens.mean(dim=1)
        assert torch.equal(pretrain.forward_head(tokens), F.layer_norm(mean, mean.shape[-1:]))
        tokens = classifier.encoder(x)
        assert torch.equal(classifier.forward_features(x), classifier.fc_norm(tokens.mean(dim=1)))
        assert torch.equal(classifier.forward_head(tokens, pre_logits=True), classifier.forward_features(x))
        assert torch.equal(classifier(x), classifier.head(classifier.forward_features(x)))
    with pytest.raises(ValueError, match="no classification head"):
        pretrain.forward_head(tokens, pre_logits=False)


def test_classifier_leaves_out_exactly_the_pretraining_only_settings():
    """One `model` config builds both models: the classifier drops the decoder and loss settings
    (PRETRAINING_ONLY, exactly what it does not share with VideoMAEPretrain) and refuses any other
    key it does not take, instead of swallowing it."""
    pretrain = set(inspect.signature(VideoMAEPretrain).parameters)
    classifier = set(inspect.signature(VideoMAEClassifier).parameters)
    assert PRETRAINING_ONLY == pretrain - classifier
    model = create_classifier("vit_tiny", 3, **TINY_MODEL, norm_pix_loss=False, encoder_norm=True)
    assert model.head.out_features == 3
    with pytest.raises(TypeError, match="decoder_dept"):
        create_classifier("vit_tiny", 3, **TINY_MODEL, decoder_dept=2)
