"""Gaze redirection of whole face crops and the differentiable eye patches behind the face model's
gaze supervision."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from generator.face.losses import gaze_consistency
from generator.gaze.eyes import normalise
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from generator.gaze.redirect import EyeLayout, eye_patches, read_iris_offsets, redirect_gaze

SIZE = 128
BOXES = [[24.0, 40.0, 32.0, 32.0], [72.0, 40.0, 32.0, 32.0]]  # (x, y, w, h) of the two eyes


def face_with_irises(iris_x: float = 0.0) -> torch.Tensor:
    """(1, 3, SIZE, SIZE) bright frame with a dark disc (an iris, radius 5 px) in each eye box, at
    `iris_x` box half-widths from the box centre."""
    ys, xs = np.mgrid[:SIZE, :SIZE] + 0.5
    frame = np.full((SIZE, SIZE), 0.8, np.float32)
    for x, y, w, h in BOXES:
        cx, cy = x + w / 2 * (1 + iris_x), y + h / 2
        frame[(xs - cx) ** 2 + (ys - cy) ** 2 < 25] = 0.1
    return torch.from_numpy(frame)[None, None].expand(1, 3, -1, -1).clone()


def layout(found: bool = True, batch: int = 1) -> EyeLayout:
    boxes = torch.tensor([BOXES] * batch)
    return EyeLayout(boxes, torch.zeros(batch, 2, 2), torch.full((batch,), found))


def dark_centroids(frame: torch.Tensor) -> np.ndarray:
    """(2,) x of the dark pixels' centroid in the left and right half of the frame."""
    dark = frame[0, 0].numpy() < 0.45
    ys, xs = np.nonzero(dark)
    left = xs < SIZE // 2
    return np.array([xs[left].mean(), xs[~left].mean()]) + 0.5


def test_redirection_moves_both_irises_by_about_the_shift_and_leaves_the_rest():
    frame = face_with_irises()
    moved = redirect_gaze(frame, layout(), torch.tensor([[0.3, 0.0]]))
    shift_px = dark_centroids(moved) - dark_centroids(frame)
    half_width = BOXES[0][2] / 2
    # A backward warp through a Gaussian bump lands the iris short of the nominal shift (as in the gaze
    # network's training, generator.gaze.warp: there 0.3 half-widths land at ~0.22).
    assert np.all(shift_px > 0.55 * 0.3 * half_width) and np.all(shift_px < 1.0 * 0.3 * half_width)
    assert torch.allclose(moved[..., :20, :], frame[..., :20, :], atol=1e-4)  # far from the eyes: unchanged
    assert torch.equal(redirect_gaze(frame, layout(found=False), torch.tensor([[0.3, 0.0]])), frame)


def test_eye_patches_are_the_eye_finder_patches_and_differentiable():
    frame = face_with_irises(0.2).requires_grad_(True)
    patches = eye_patches(frame, layout())
    grey = cv2.cvtColor((frame[0].detach().permute(1, 2, 0).numpy() * 255).astype(np.float32), cv2.COLOR_RGB2GRAY)
    for eye, (x, y, w, h) in enumerate(BOXES):
        expected = normalise(cv2.resize(grey[int(y) : int(y + h), int(x) : int(x + w)], (32, 32)))
        assert np.allclose(patches[0, eye].detach().numpy(), expected, atol=1e-3)
    patches[:, :, 10:20, 10:20].sum().backward()
    assert frame.grad is not None and frame.grad.abs().sum() > 0


def test_gaze_consistency_is_zero_only_when_the_readings_agree():
    network = EyeGazeNet(GazeNetConfig(width=4))
    frames = torch.cat([face_with_irises(0.0), face_with_irises(0.3)])
    readings = read_iris_offsets(network, frames, layout(batch=2))
    assert readings.shape == (2, 2)
    found = torch.tensor([True, True])
    assert gaze_consistency(readings, readings, found) == 0
    assert gaze_consistency(readings, readings.flip(0), found) > 0
    none = gaze_consistency(readings, readings.flip(0), torch.tensor([False, False]))
    assert none == 0 and none.requires_grad
