"""x264 encodes repeat exactly (media.x264), and x265's do on any machine."""

from fractions import Fraction

import av
import numpy as np

from media.video import transcode_frames
from media.x264 import reproducible_params

AVX512_MACHINE = frozenset(
    "sse sse2 pni ssse3 sse4_1 sse4_2 abm avx fma bmi1 bmi2 avx2 avx512f avx512cd avx512bw avx512dq avx512vl".split()
)


def test_an_avx512_machine_is_held_to_avx2():
    params = reproducible_params(AVX512_MACHINE)
    names = params["x264-params"].removeprefix("asm=").split(",")
    assert "AVX2" in names and "SSE4.2" in names and not any("512" in name for name in names)


def test_only_instruction_sets_the_cpu_has_are_named():
    """Naming one the CPU lacks crashes the process, so a missing flag leaves its set out."""
    params = reproducible_params(AVX512_MACHINE - {"bmi2"})
    assert "BMI2" not in params["x264-params"] and "BMI1" in params["x264-params"]


def test_machines_without_avx512_keep_x264s_own_choice():
    assert reproducible_params(AVX512_MACHINE - {"avx512bw"}) == {}
    assert reproducible_params(frozenset()) == {}


def test_a_transcode_is_the_same_on_every_run():
    """At 144 px wide, x264's AVX-512 routines gave different encodes with the heap in different states."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:96, 0:144]
    frames = np.stack(
        [np.stack([rows * 2, (cols * 3 + 7 * t) % 256, (rows + cols + 5 * t) % 256], axis=-1) for t in range(12)]
    )
    frames = (frames + rng.integers(0, 24, frames.shape)).astype(np.uint8)  # texture for the motion search
    coded = []
    for _ in range(5):
        # Leave freed buffers of other content behind, as a long-running process does.
        litter = [av.VideoFrame.from_ndarray(rng.integers(0, 256, frames.shape[1:], np.uint8)) for _ in range(4)]
        del litter
        coded.append(transcode_frames(frames, crf=28))
    assert all(np.array_equal(coded[0], other) for other in coded[1:])


def _x265_decoded(frames: np.ndarray, params: str) -> np.ndarray:
    encoder = av.CodecContext.create("libx265", "w")
    encoder.height, encoder.width = frames.shape[1:3]
    encoder.pix_fmt, encoder.time_base, encoder.framerate = "yuv420p", Fraction(1, 25), 25
    encoder.options = {"crf": "28", "preset": "medium", "x265-params": f"log-level=error:{params}"}
    decoder, decoded = av.CodecContext.create("hevc", "r"), []
    for index, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        picture.pts = index
        for packet in encoder.encode(picture):
            decoded += [out.to_ndarray(format="rgb24") for out in decoder.decode(packet)]
    for packet in [*encoder.encode(None), None]:
        decoded += [out.to_ndarray(format="rgb24") for out in decoder.decode(packet)]
    return np.stack(decoded)


def test_x265_decodes_the_same_whatever_its_threads(portrait):
    """transcode_frames leaves x265's threads to the machine: its thread pool and frame threads change
    only the settings it writes into the bitstream, not the pictures (so the benchmark's H.265 attack is
    the same on a 2-core and a 16-core machine)."""
    frames = np.stack([np.roll(portrait[::2, ::2], (t * t % 5, 3 * t), axis=(0, 1)) for t in range(10)])
    reference = _x265_decoded(frames, "pools=1:frame-threads=1")
    assert reference.shape == frames.shape
    for params in ("pools=4:frame-threads=1", "pools=16:frame-threads=4"):
        assert np.array_equal(_x265_decoded(frames, params), reference), params
