"""The eye-region gaze network: synthetic iris shifts, its losses, training, and the committed weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.gaze.estimator import GazeEstimator
from generator.gaze.eyes import EyeFinder, dark_centre
from generator.gaze.losses import centring_loss, equivariance_loss, mirror_loss
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from generator.gaze.warp import shift_iris
from generator.training.gaze_trainer import GazeTrainConfig, GazeTrainer
from media.weights import read_card
from tests.conftest import make_prepared_corpus

SIZE = 32


def disc_patches(centres: np.ndarray, radius: float = 0.22) -> torch.Tensor:
    """(B, 1, SIZE, SIZE) bright patches with a dark disc (an iris) at normalised `centres` (B, 2)."""
    coords = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1
    xs, ys = np.meshgrid(coords, coords)
    inside = (xs[None] - centres[:, :1, None]) ** 2 + (ys[None] - centres[:, 1:, None]) ** 2 < radius**2
    return torch.from_numpy(np.where(inside, -1.0, 1.0).astype(np.float32))[:, None]


def test_shift_moves_the_iris_by_the_reported_displacement_and_keeps_the_corners():
    centre = np.array([[0.1, 0.05]], np.float32)
    patch = disc_patches(centre)
    warped, moved = shift_iris(patch, torch.from_numpy(centre), torch.tensor([[0.25, -0.1]]))
    dark = warped[0, 0].numpy() < 0
    coords = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1
    xs, ys = np.meshgrid(coords, coords)
    shift = np.array([xs[dark].mean(), ys[dark].mean()]) - centre[0]
    assert np.allclose(shift, moved[0].numpy(), atol=0.03)
    assert 0.15 < moved[0, 0] < 0.25 and -0.1 < moved[0, 1] < -0.05  # the bump damps the shift a little
    assert torch.allclose(warped[..., :3, :3], patch[..., :3, :3])
    assert dark_centre(warped[0, 0].numpy()) == pytest.approx(centre[0] + moved[0].numpy(), abs=0.08)


def test_losses_are_zero_for_an_exact_estimate_and_not_otherwise():
    first, second = torch.tensor([[0.3, 0.1]]), torch.tensor([[0.1, 0.0]])
    assert equivariance_loss(first, second, first - second) == 0
    assert equivariance_loss(first, second, torch.zeros(1, 2)) > 0
    assert mirror_loss(first, first * torch.tensor([-1.0, 1.0])) == 0
    assert mirror_loss(first, first) > 0
    assert centring_loss(torch.tensor([[0.2, 0.1], [-0.2, -0.1]])) == 0


def test_equivariance_alone_teaches_a_tiny_network_to_track_the_iris():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = EyeGazeNet(GazeNetConfig(width=8))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(250):
        centres = rng.uniform(-0.3, 0.3, (32, 2)).astype(np.float32)
        patches, centre = disc_patches(centres), torch.from_numpy(centres)
        shifts = [(torch.rand(32, 2, generator=generator) * 2 - 1) * 0.3 for _ in range(2)]
        (first, moved_first), (second, moved_second) = (shift_iris(patches, centre, s) for s in shifts)
        loss = equivariance_loss(model(first), model(second), moved_first - moved_second)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # Held-out discs: predictions follow where the disc really is (no label ever said where).
    a, b = rng.uniform(-0.35, 0.35, (200, 2)), rng.uniform(-0.35, 0.35, (200, 2))
    with torch.no_grad():
        difference = (model(disc_patches(a)) - model(disc_patches(b))).numpy()
    for axis in range(2):
        assert np.corrcoef(difference[:, axis], (a - b)[:, axis])[0, 1] > 0.9


def test_gaze_training_end_to_end_resumes_and_exports(tmp_path, sample_clip):
    prepared = make_prepared_corpus(tmp_path, sample_clip, ("anna", "ben", "cleo"), size=128)
    config = GazeTrainConfig(steps=4, batch_size=8, frame_stride=5, checkpoint_every=2, network=GazeNetConfig(width=4))
    trainer = GazeTrainer(config, prepared, tmp_path / "run")
    assert len(trainer.train_patches) >= 8 and trainer.train_patches.shape[1:] == (32, 32)
    trainer.train()
    resumed = GazeTrainer(
        GazeTrainConfig(steps=6, batch_size=8, network=GazeNetConfig(width=4)), prepared, tmp_path / "run"
    )
    assert resumed.step == 4
    resumed.train()
    card = resumed.export(tmp_path / "gaze.safetensors")
    assert card["steps"] == 6 and card["config"]["width"] == 4
    assert np.isfinite(card["metrics"]["network_x_error"]) and "dark_centroid_x_slope" in card["metrics"]


def test_committed_network_follows_a_repainted_iris(portrait):
    """The astronaut's eyes repainted with the iris left or right of centre: theta follows the iris,
    and head direction adds to the eye rotation."""
    import cv2

    from media.faces import crop_face

    estimator = GazeEstimator.from_pretrained()
    crop, _ = crop_face(portrait, size=128)
    boxes = EyeFinder().boxes(crop)
    assert boxes is not None

    def looking(shift: float) -> np.ndarray:
        image = crop.copy()
        for x, y, w, h in boxes:
            cx, cy = x + w // 2, y + h // 2 + h // 12
            cv2.ellipse(image, (cx, cy), (w // 3, h // 6), 0, 0, 360, (235, 235, 235), -1)
            cv2.circle(image, (cx + round(shift * w / 5), cy), max(2, w // 8), (25, 25, 25), -1)
        return image

    gaze = estimator.estimate(np.stack([looking(0.5), looking(0.0), looking(-0.5)]), np.zeros((3, 2)))
    assert gaze[0, 0] > gaze[1, 0] > gaze[2, 0] and gaze[0, 0] > gaze[2, 0] + 0.15
    shifted = estimator.estimate(np.stack([looking(0.5)]), np.array([[0.2, -0.1]]))
    assert np.allclose(shifted - gaze[:1], [[0.2, -0.1]], atol=1e-6)
    card = read_card(estimator_path())
    assert card["metrics"]["network_x_r"] > card["metrics"]["dark_centroid_x_r"]


def estimator_path():
    from generator.gaze.estimator import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS


def test_no_eyes_gives_nan_offsets_and_head_direction_only():
    estimator = GazeEstimator(EyeGazeNet(GazeNetConfig(width=4)))
    blank = np.full((2, 128, 128, 3), 128, np.uint8)
    assert np.isnan(estimator.iris_offsets(blank)).all()
    assert np.allclose(estimator.estimate(blank, np.array([[0.1, 0.2], [0.1, 0.2]])), [[0.1, 0.2], [0.1, 0.2]])
