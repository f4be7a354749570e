"""The opened reader every backend gives (videomae.data.decoders.reader): its length, its frame
times and frame rate, its frames at indices and at times, on a variable frame rate clip whose
pixels spell each frame's index."""

import numpy as np
import pytest
from helpers import BACKENDS

from videomae.data import decoders
from videomae.data.decoders.selftest import frame_index, vfr_pts, write_indexed
from videomae.data.video import VideoDecoder

N = 60
PTS = vfr_pts(N, seed=4)  # ms
SECONDS = (PTS - PTS[0]) / 1000


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("reader") / "vfr.mp4")
    return write_indexed(path, N, "libx264", {"x264-params": "keyint=10:min-keyint=10:bframes=2"}, PTS)


def shown_at(at: float) -> int:
    """By hand: the last frame whose time is at or before `at`."""
    return max(i for i, t in enumerate(SECONDS) if t <= at + 1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reader_gives_length_times_and_frames(vfr, backend):
    with decoders.module(backend).open_video(vfr) as reader:
        assert len(reader) == N
        assert np.allclose(reader.times(), SECONDS, atol=1e-3)
        assert reader.frame_rate() == pytest.approx((N - 1) / SECONDS[-1], rel=1e-3)
        count = reader.frame_count()
        assert int(count) == N and np.array_equal(count.times(), reader.times())
        window = np.array([3, 17, 18, 41, 58])
        assert [frame_index(f) for f in reader.frames_at(window)] == window.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reader_gives_the_frames_shown_at_times(vfr, backend):
    with decoders.module(backend).open_video(vfr) as reader:
        # mid-frame times, any order, a repeat; a time past the last frame's start gives the last
        at = np.array([2.0, 0.01, 0.5, 0.5, SECONDS[-1] + 1.0])
        frames = reader.frames_at_times(at)
        assert [frame_index(f) for f in frames] == [shown_at(t) for t in at]
        # a frame's own start time gives that frame
        assert [frame_index(f) for f in reader.frames_at_times(reader.times()[[10, 0]])] == [10, 0]
        with pytest.raises(ValueError, match="before the first frame"):
            reader.frames_at_times([-0.5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_decoder_says_which_frames_it_read(vfr, backend):
    decoder = VideoDecoder(backend=backend, timeout=None)
    choose = lambda n: [[n - 1, 4], [4, 0]]  # noqa: E731
    frames, chosen = decoder.read_with_indices(vfr, choose)
    assert chosen.dtype == np.int64 and chosen.tolist() == [[N - 1, 4], [4, 0]]
    assert [[frame_index(f) for f in clip] for clip in frames] == chosen.tolist()
    assert np.array_equal(frames, decoder.read(vfr, choose))
