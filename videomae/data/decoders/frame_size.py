"""A video's frame size as displayed, read from its container header before any decoder opens it
(decord is asked for it explicitly: decoders/decord.py)."""


def displayed_size(path: str) -> tuple[int, int] | None:
    """(height, width) as displayed, from the container header and, where the stream carries a
    display rotation (phone video), its first frame, through PyAV; None when it cannot tell. The
    backend stays the judge of whether a file reads."""
    try:
        import av

        with av.open(path) as container:
            stream = container.streams.best("video")
            height, width = stream.codec_context.height, stream.codec_context.width
            if height <= 0 or width <= 0:
                return None
            stream.codec_context.thread_count = 1
            frame = next(container.decode(stream), None)
            turned = frame is not None and round(frame.rotation / 90) % 2 == 1
            return (width, height) if turned else (height, width)
    except Exception:
        return None
