"""Where an attentive probe looks: the query's attention laid on the token grid, then on the frame."""

import numpy as np
import torch

from videomae.models.probe_heads import AttentiveHead
from videomae.viz.probe_attention import attention_picture, overlay, token_attention


def test_token_attention_is_the_querys_weights_on_the_grid_summed_over_time():
    """Tokens are (t, h, w) in raster order: a token made to stand out in the query's keys at
    (t=1, h=2, w=0) lights up cell (2, 0) of the map, whatever its time."""
    torch.manual_seed(0)
    head = AttentiveHead(dim=16, num_classes=3, depth=1, num_heads=1).eval()
    grid = (2, 3, 4)
    tokens = torch.randn(1, 24, 16)
    with torch.no_grad():
        for p in head.parameters():  # away from the near-uniform attention of the initialisation
            p.add_(0.5 * torch.randn_like(p))
        head.cross.norm1.weight.fill_(1.0)
        head.cross.norm1.bias.zero_()
        # The direction the query's score grows along (a LayerNorm-ed token is centred).
        along = head.cross.xattn.kv.weight[:16].T @ head.cross.xattn.q(head.query)[0, 0]
        tokens[0, 1 * 12 + 2 * 4 + 0] = along - along.mean()
        heat = token_attention(head, tokens, grid)
    assert heat.shape == (1, 3, 4) and torch.allclose(heat.sum(), torch.tensor(1.0))
    assert divmod(int(heat[0].argmax()), 4) == (2, 0) and heat[0, 2, 0] > 0.5


def test_overlay_and_picture_put_each_map_on_its_clip():
    frame = np.full((32, 32, 3), 100, dtype=np.uint8)
    heat = np.zeros((4, 4))
    heat[3, 1] = 1.0
    covered = overlay(frame, heat).astype(int).sum(-1)
    assert covered[24:, 8:16].min() > covered.max() - 1 and covered[:24].max() < covered[24:, 8:16].min()
    frames = np.stack([frame, frame])
    picture = attention_picture(frames, {"a": np.stack([heat, heat]), "b": np.stack([heat, heat])},
                                ["left", "right"], "title")  # fmt: skip
    scale = 4  # 32 px frames shown at 128 px
    assert picture.height == 2 * 20 + 3 * (32 * scale + 2) and picture.width > 2 * 32 * scale
