"""The per-bit bias bench reads each unmarked clip in views that fold its content into other tiles."""

from __future__ import annotations

import numpy as np

from bench.watermark_robustness import BIAS_FRAME_STEP, BIAS_VIEW_MARGIN, BIAS_VIEWS_PER_CLIP, bias_views


def test_a_clip_gives_eighteen_distinct_views_of_its_sampled_frames():
    clip = np.random.default_rng(0).integers(0, 256, size=(50, 64, 64, 3), dtype=np.uint8)
    views = list(bias_views(clip))
    inner = 64 - BIAS_VIEW_MARGIN
    assert len(views) == BIAS_VIEWS_PER_CLIP == 18
    assert all(view.shape == (50 // BIAS_FRAME_STEP, inner, inner, 3) and view.flags.c_contiguous for view in views)
    assert np.array_equal(views[0], clip[::BIAS_FRAME_STEP, :inner, :inner])
    # The second orientation is the clip mirrored left to right, cropped the same way.
    assert np.array_equal(views[9], clip[::BIAS_FRAME_STEP, :inner, ::-1][:, :, :inner])
    assert len({view.tobytes() for view in views}) == 18
