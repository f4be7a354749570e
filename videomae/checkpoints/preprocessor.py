"""The processor configs of an export: how transformers should prepare a video for the model."""

from videomae.models.videomae import as_pair
from videomae.utils.pixels import resolve_stats


def preprocessor_configs(spec: dict) -> dict[str, dict]:
    """`preprocessor_config.json` (VideoMAEImageProcessor) and `video_preprocessor_config.json`
    (VideoMAEVideoProcessor, which pipeline("video-classification") uses), for the model as trained.

    The framework's test view: short side resized to the model's size (bilinear, antialiased),
    centre crop, /255, ImageNet mean and std. transformers' own VideoMAE defaults differ (mean and
    std 0.5), so every value is written out.
    """
    k = spec["kwargs"]
    height, width = as_pair(k["img_size"])
    channels = k.get("in_chans", 3)
    mean, std = resolve_stats(channels, k.get("pixel_mean"), k.get("pixel_std"))
    common = {
        "do_resize": True,
        # The crop must fit whichever way the video is oriented: the short side covers both sides.
        "size": {"shortest_edge": max(height, width)},
        "resample": 2,  # PIL's BILINEAR, as torchvision's resize in videomae.data.transforms
        "do_center_crop": True,
        "crop_size": {"height": height, "width": width},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(mean),
        "image_std": list(std),
        "do_convert_rgb": channels == 3,  # gray or multi-channel frames are passed as they are
    }
    return {
        "preprocessor_config.json": {"image_processor_type": "VideoMAEImageProcessor", **common},
        "video_preprocessor_config.json": {
            "video_processor_type": "VideoMAEVideoProcessor",
            "num_frames": k["num_frames"],  # what the pipeline samples, evenly over the video
            **common,
        },
    }
