"""The robustness bench's geometric attacks do what their rows say."""

from __future__ import annotations

import cv2
import numpy as np

from bench.watermark_robustness import in_blurred_border


def test_a_blurred_border_keeps_the_frame_and_shrinks_the_picture_into_its_centre():
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 100, 60, 3), dtype=np.uint8)
    framed = in_blurred_border(frames, 0.97)
    assert framed.shape == frames.shape
    # 97 % of 100 x 60 rounded to even sides: 96 x 58, centred.
    picture = cv2.resize(frames[1], (58, 96), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(framed[1, 2:98, 1:59], picture)
    # The border is the blurred, darkened frame, not uniform bars a reader could trim.
    assert framed[1, :2].std() > 0 and framed[1, :2].max() <= 0.6 * 255 + 1
