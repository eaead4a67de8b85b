"""Bars around a picture: found on any uniform colour, left alone when narrow, never the whole clip."""

from __future__ import annotations

import numpy as np

from media.letterbox import INSET, picture_box


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 220, (3, height, width, 3), dtype=np.uint8)


def test_black_bars_above_and_below_are_found():
    frames = np.zeros((3, 400, 200, 3), np.uint8)
    frames[:, 100:300] = _picture(200, 200)
    rows, cols = picture_box(frames)
    assert (rows.start, rows.stop) == (100 + INSET, 300 - INSET) and (cols.start, cols.stop) == (0, 200)
    # Before any codec the edges are exact, and the picture can be taken to them (the embedder does).
    assert picture_box(frames, inset=0) == (slice(100, 300), slice(0, 200))


def test_coloured_bars_at_the_sides_are_found_despite_a_level_of_noise():
    frames = np.full((3, 120, 300, 3), 235, np.uint8)
    frames[:, :, 90:210] = _picture(120, 120)
    frames[:, :, :90] += np.random.default_rng(1).integers(0, 2, (3, 120, 90, 3), dtype=np.uint8)
    rows, cols = picture_box(frames)
    assert (rows.start, rows.stop) == (0, 120) and (cols.start, cols.stop) == (90 + INSET, 210 - INSET)


def test_narrow_uniform_edges_and_flat_clips_are_not_bars():
    frames = _picture(200, 200)
    frames[:, :4] = 0  # a dark border of the picture itself: 2 % of the height
    assert picture_box(frames) == (slice(0, 200), slice(0, 200))
    flat = np.full((3, 200, 200, 3), 16, np.uint8)
    assert picture_box(flat) == (slice(0, 200), slice(0, 200))
    sliver = np.zeros((3, 200, 200, 3), np.uint8)
    sliver[:, 95:105] = _picture(10, 200)  # 95 % of the height uniform: a detail of a dark clip
    assert picture_box(sliver) == (slice(0, 200), slice(0, 200))


def test_a_uniform_edge_on_one_side_is_picture():
    """A dark sky or backdrop at the top of a shot is not a bar: platforms centre the picture."""
    frames = _picture(200, 200)
    frames[:, :30] = 0
    assert picture_box(frames) == (slice(0, 200), slice(0, 200))
    frames[:, -27:] = 0  # and a bar below of about the same width: now they are bars
    rows, _ = picture_box(frames)
    assert (rows.start, rows.stop) == (30 + INSET, 173 - INSET)
