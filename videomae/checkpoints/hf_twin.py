"""transformers' VideoMAEForPreTraining holding the weights of one of our pre-training models: the
reference the step benchmark and the GPU check time ours against (same weights, same loss)."""

from videomae.checkpoints.hf import ours_to_hf


def hf_pretrain_twin(ours, num_frames: int, img_size: int):
    """A VideoMAEForPreTraining of `ours`' sizes and numerics (eps 1e-6) with its weights."""
    from transformers import VideoMAEConfig, VideoMAEForPreTraining  # a dev dependency, optional here

    enc, dec = ours.encoder, ours.decoder
    config = VideoMAEConfig(
        image_size=img_size,
        patch_size=ours.patch_size,
        num_frames=num_frames,
        tubelet_size=ours.tubelet_size,
        hidden_size=enc.embed_dim,
        num_hidden_layers=len(enc.blocks),
        num_attention_heads=enc.blocks[0].attn.num_heads,
        intermediate_size=enc.blocks[0].mlp.fc1.out_features,
        decoder_hidden_size=ours.mask_token.shape[-1],
        decoder_num_hidden_layers=len(dec.blocks),
        decoder_num_attention_heads=dec.blocks[0].attn.num_heads,
        decoder_intermediate_size=dec.blocks[0].mlp.fc1.out_features,
        layer_norm_eps=1e-6,
        use_mean_pooling=False,
        norm_pix_loss=ours.norm_pix_loss,
    )
    model = VideoMAEForPreTraining(config)
    model.decoder.norm.eps = 1e-6
    model.load_state_dict(ours_to_hf(ours.state_dict()), strict=True)
    return model
