"""Our model against transformers' VideoMAEForPreTraining with the same weights, input and mask."""

import pytest
import torch
from transformers import VideoMAEConfig, VideoMAEForPreTraining

from videomae import create_pretrain_model
from videomae.checkpoints.hf import hf_to_ours, ours_to_hf
from videomae.models.masking import MaskGenerator

CONFIGS = {
    "cube16": dict(
        num_frames=4,
        img_size=32,
        patch_size=16,
        tubelet_size=2,
        embed_dim=64,
        depth=2,
        num_heads=4,
        decoder_embed_dim=32,
        decoder_depth=2,
        decoder_num_heads=2,
    ),
    "rect8": dict(
        num_frames=6,
        img_size=(24, 40),
        patch_size=8,
        tubelet_size=3,
        embed_dim=48,
        depth=3,
        num_heads=3,
        decoder_embed_dim=64,
        decoder_depth=1,
        decoder_num_heads=4,
    ),
}


def hf_reference(cfg: dict, norm_pix_loss: bool) -> VideoMAEForPreTraining:
    config = VideoMAEConfig(
        image_size=cfg["img_size"],
        patch_size=cfg["patch_size"],
        num_frames=cfg["num_frames"],
        tubelet_size=cfg["tubelet_size"],
        hidden_size=cfg["embed_dim"],
        num_hidden_layers=cfg["depth"],
        num_attention_heads=cfg["num_heads"],
        intermediate_size=4 * cfg["embed_dim"],
        decoder_hidden_size=cfg["decoder_embed_dim"],
        decoder_num_hidden_layers=cfg["decoder_depth"],
        decoder_num_attention_heads=cfg["decoder_num_heads"],
        decoder_intermediate_size=4 * cfg["decoder_embed_dim"],
        layer_norm_eps=1e-6,
        use_mean_pooling=False,
        norm_pix_loss=norm_pix_loss,
        attn_implementation="eager",
    )
    model = VideoMAEForPreTraining(config).eval()
    # transformers hard-codes eps 1e-5 for the decoder norm; the original uses 1e-6 everywhere.
    model.decoder.norm.eps = 1e-6
    return model


@pytest.mark.parametrize("norm_pix_loss", [True, False])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_transformers(name, norm_pix_loss):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    ours = create_pretrain_model("vit_tiny", norm_pix_loss=norm_pix_loss, **cfg).eval()
    ref = hf_reference(cfg, norm_pix_loss)
    with torch.no_grad():  # transformers' init leaves biases at zero; randomise everything
        for p in ref.parameters():
            p.normal_(0, 0.2)
    ours.load_state_dict(hf_to_ours(ref.state_dict()), strict=True)
    t, h, w = ours.grid
    mask = MaskGenerator("tube", 0.75, ours.grid)(3, torch.device("cpu"))
    height, width = (h * cfg["patch_size"], w * cfg["patch_size"])
    videos = torch.randn(3, 3, cfg["num_frames"], height, width)
    with torch.no_grad():
        loss, pred = ours(videos, mask)
    assert pred.shape == (3, int(mask[0].sum()), 3 * cfg["tubelet_size"] * cfg["patch_size"] ** 2)
    with torch.no_grad():
        out = ref(videos.transpose(1, 2), bool_masked_pos=mask)
    torch.testing.assert_close(pred, out.logits, rtol=1e-5, atol=1e-5 * out.logits.abs().max().item())
    torch.testing.assert_close(loss, out.loss, rtol=1e-5, atol=0)


def test_hf_mapping_round_trip():
    model = create_pretrain_model("vit_tiny", **CONFIGS["cube16"])
    ours = model.state_dict()
    back = hf_to_ours(ours_to_hf(ours))
    assert back.keys() == ours.keys()
    for key in ours:
        torch.testing.assert_close(back[key], ours[key], rtol=0, atol=0)


def test_classifier_matches_transformers():
    from transformers import VideoMAEForVideoClassification

    from videomae import create_classifier

    cfg = CONFIGS["cube16"]
    config = hf_reference(cfg, True).config
    config.use_mean_pooling = True
    config.num_labels = 5
    ref = VideoMAEForVideoClassification(config).eval()
    ref.fc_norm.eps = 1e-6  # transformers hard-codes 1e-5 here; the original uses 1e-6
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    torch.manual_seed(0)
    ours = create_classifier("vit_tiny", 5, **cfg).eval()
    ours.load_state_dict(hf_to_ours(ref.state_dict()), strict=True)
    videos = torch.randn(2, 3, cfg["num_frames"], cfg["img_size"], cfg["img_size"])
    with torch.no_grad():
        logits = ours(videos)
        expected = ref(videos.transpose(1, 2)).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
