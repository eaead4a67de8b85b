from __future__ import annotations

import math

import pytest
import torch

from generator.face.config import PRESETS, face_preset
from generator.face.model import FaceLatentModel
from generator.face.warping import rotation_matrix, warp_volume


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_encode_decode_shapes_and_determinism(preset):
    config = face_preset(preset)
    torch.manual_seed(0)
    model = FaceLatentModel(config).eval()
    image = torch.rand(1, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        latents = model.encode(image)
        again = model.encode(image)
        frame = model.decode(latents, latents.pose, latents.dynamics)
    volume = config.volume
    assert latents.appearance.shape == (1, volume.channels, volume.depth, volume.side, volume.side)
    assert latents.identity.shape == (1, config.id_dim)
    assert latents.pose.shape == (1, 6) and latents.dynamics.shape == (1, config.dyn_dim)
    assert latents.motion.shape == (1, 6 + config.dyn_dim)
    assert frame.shape == image.shape
    assert torch.isfinite(frame).all() and 0 <= frame.min() and frame.max() <= 1
    assert torch.equal(again.appearance, latents.appearance) and torch.equal(again.dynamics, latents.dynamics)
    assert torch.allclose(latents.identity.norm(dim=-1), torch.ones(1), atol=1e-5)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown face preset 'huge'"):
        face_preset("huge")


def test_rotation_matrices_are_orthonormal():
    angles = torch.tensor([[0.3, -0.2, 0.1], [1.0, 0.5, -0.7]])
    rotation = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    assert torch.allclose(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(2), atol=1e-6)


def test_warp_with_same_state_is_identity_and_pose_moves_content():
    torch.manual_seed(0)
    volume = torch.rand(2, 4, 4, 8, 8)
    pose = torch.zeros(2, 6)
    no_flow = torch.zeros(2, 3, 4, 8, 8)
    assert torch.allclose(warp_volume(volume, pose, no_flow, pose, no_flow), volume, atol=1e-5)
    # A pure translation by two voxels (of eight, 0.5 in [-1, 1] units) shifts the content by two voxels.
    shifted = pose.clone()
    shifted[:, 3] = 0.5
    moved = warp_volume(volume, pose, no_flow, shifted, no_flow)
    assert torch.allclose(moved[..., 2:], volume[..., :-2], atol=1e-5)
    # A 90-degree roll of a square volume is a rotation of each depth slice.
    rolled = pose.clone()
    rolled[:, 2] = math.pi / 2
    turned = warp_volume(volume, pose, no_flow, rolled, no_flow)
    assert torch.allclose(turned, torch.rot90(volume, k=-1, dims=(-2, -1)), atol=1e-4) or torch.allclose(
        turned, torch.rot90(volume, k=1, dims=(-2, -1)), atol=1e-4
    )
