"""Eye retargeting: a gaze control turns the irises of rendered frames (generator/gaze/retarget.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from generator.gaze.estimator import EYE_BOX_PER_RADIUS
from generator.gaze.redirect import EyeLayout, read_iris_offsets, redirect_gaze
from generator.gaze.retarget import EyeRetargeter, EyeTarget
from media.faces import crop_face
from media.frames import to_tensor


@pytest.fixture(scope="module")
def retargeter() -> EyeRetargeter:
    return EyeRetargeter.from_pretrained()


@pytest.fixture(scope="module")
def crop(portrait) -> np.ndarray:
    return crop_face(portrait, size=256)[0]


def test_target_turns_the_portraits_eyes_to_the_requested_direction_within_the_limit(retargeter, crop):
    right, left = retargeter.target(crop, (15.0, 0.0)), retargeter.target(crop, (-15.0, 0.0))
    expected = 2 * math.sin(math.radians(15.0)) / EYE_BOX_PER_RADIUS
    assert right.shift[0] - left.shift[0] == pytest.approx(expected, rel=1e-5)
    assert right.shift[1] == pytest.approx(left.shift[1])
    up = retargeter.target(crop, (0.0, 10.0))
    assert up.shift[1] < right.shift[1]  # up is -y in the image
    assert np.allclose(retargeter.target(crop, (40.0, 0.0)).shift, retargeter.target(crop, (25.0, 0.0)).shift)
    assert right.portrait_boxes is not None and np.all((right.portrait_boxes > 0) & (right.portrait_boxes < 1))
    # A 128 px crop (the face model's size) has its eyes found too, on a 2x upsampling.
    small = retargeter.target(crop[::2, ::2].copy(), (15.0, 0.0))
    assert small.portrait_boxes is not None

    def centres(boxes: np.ndarray) -> np.ndarray:
        return boxes[:, :2] + boxes[:, 2:] / 2

    assert np.allclose(centres(small.portrait_boxes), centres(right.portrait_boxes), atol=0.03)


def test_apply_moves_the_irises_as_the_gaze_network_reads_them_and_leaves_the_rest(retargeter, crop):
    frames = to_tensor(np.repeat(crop[None], 5, 0), "cpu")
    layout = EyeLayout.detect(frames, retargeter.finder)
    assert bool(layout.found.all())
    with torch.no_grad():
        before = read_iris_offsets(retargeter.network, frames, layout)
        for theta in (15.0, -15.0):
            target = retargeter.target(crop, (theta, 0.0))
            moved = retargeter.apply(frames, target)
            change = (read_iris_offsets(retargeter.network, moved, layout) - before).mean(0).numpy()
            assert np.sign(change[0]) == np.sign(theta)
            assert 0.5 * abs(target.shift[0]) < abs(change[0]) < 1.2 * abs(target.shift[0])
            assert abs(change[1]) < 0.05
            # The mouth and chin (below the eyes) do not move, and warping only the eyes' surroundings
            # gives the whole frame's warp.
            assert torch.allclose(moved[..., 170:, :], frames[..., 170:, :], atol=1e-4)
            tracked = retargeter.track(frames, target)
            whole = redirect_gaze(frames, tracked, torch.from_numpy(target.shift).expand(len(frames), 2))
            assert (moved - whole).abs().max() < 2e-3


def test_frames_without_found_eyes_take_interpolated_boxes_or_the_portraits(retargeter, crop):
    frames = to_tensor(np.repeat(crop[None], 9, 0), "cpu")
    frames[4] = 0.5  # a flat frame: Haar finds nothing on this probe
    target = retargeter.target(crop, (15.0, 0.0))
    layout = retargeter.track(frames, target)
    assert layout is not None and bool(layout.found.all())
    assert torch.allclose(layout.boxes[4], layout.boxes[0]) and torch.allclose(layout.boxes[4], layout.boxes[8])
    blank = torch.full((3, 3, 256, 256), 0.5)
    fallback = retargeter.track(blank, target)
    assert fallback is not None
    assert torch.allclose(fallback.boxes[0], torch.from_numpy(target.portrait_boxes * 256))
    eyeless = EyeTarget(target.shift, None)
    assert retargeter.track(blank, eyeless) is None
    assert torch.equal(retargeter.apply(blank, eyeless), blank)


def test_the_eye_search_near_expected_boxes_finds_the_same_eyes_and_falls_back_when_they_are_elsewhere(
    retargeter, crop
):
    full, _ = retargeter.finder.boxes_and_patches(crop)
    expected = np.asarray(full, np.float32)
    near, _ = retargeter.finder.boxes_and_patches(crop, expected)
    assert np.abs(np.asarray(near) - expected).max() <= 0.15 * expected[:, 2].mean()
    # Boxes expected at the chin: nothing there, so the full search answers.
    wrong = expected + np.array([0, 120, 0, 0], np.float32)
    assert retargeter.finder.boxes_and_patches(crop, wrong)[0] == full
