"""Frame conversions: uint8 (T, H, W, 3) <-> float (T, 3, H, W), exact and without side effects."""

from __future__ import annotations

import numpy as np
import torch

from media.frames import to_tensor, to_uint8


def test_round_trip_is_exact():
    frames = np.random.default_rng(0).integers(0, 256, (3, 7, 5, 3), dtype=np.uint8)
    assert np.array_equal(to_uint8(to_tensor(frames)), frames)


def test_to_uint8_clips_rounds_to_nearest_and_returns_a_contiguous_array():
    values = torch.tensor([-0.2, 0.0, 0.5 / 255, 1.49 / 255, 1.51 / 255, 0.999, 1.3])
    frames = values.view(1, 1, 1, 7).expand(1, 3, 1, 7)
    out = to_uint8(frames)
    assert out.shape == (1, 1, 7, 3) and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    assert out[0, 0, :, 0].tolist() == [0, 0, 0, 1, 2, 255, 255]


def test_to_uint8_leaves_the_callers_tensor_alone_in_either_layout():
    """The conversion works in place on its own copy: frames laid out (T, H, W, 3) in memory (as from
    to_tensor) must not be clipped or scaled under the caller."""
    channels_last = to_tensor(np.full((1, 2, 2, 3), 200, dtype=np.uint8)) * 1.5
    planar = torch.full((1, 3, 2, 2), 1.4)
    for frames in (channels_last, planar):
        before = frames.clone()
        assert (to_uint8(frames) == 255).all()
        assert torch.equal(frames, before)
