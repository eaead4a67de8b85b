"""3D warping of the appearance volume: source -> canonical -> target (VASA-1 §3.1, MegaPortraits).

Each face state (z_pose, z_dyn) defines a map from canonical coordinates to image-aligned ones:
    x = s * R(yaw, pitch, roll) @ (c + delta(z_dyn)(c)) + t
with delta a learned, smooth deformation field. Rendering the target needs V_app sampled at
g_source(g_target^-1(x)) for every target voxel x. The two maps are composed on 3-channel coordinate
fields and V_app is sampled once, which is equivalent to warping the volume twice but moves C/3 times
less data through grid_sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generator.face.config import FaceModelConfig


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) angles in radians -> (B, 3, 3) rotation R = R_roll @ R_pitch @ R_yaw (x right, y down, z depth)."""
    zeros, ones = torch.zeros_like(yaw), torch.ones_like(yaw)
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    r_yaw = torch.stack([cy, zeros, sy, zeros, ones, zeros, -sy, zeros, cy], -1).view(-1, 3, 3)
    r_pitch = torch.stack([ones, zeros, zeros, zeros, cp, -sp, zeros, sp, cp], -1).view(-1, 3, 3)
    r_roll = torch.stack([cr, -sr, zeros, sr, cr, zeros, zeros, zeros, ones], -1).view(-1, 3, 3)
    return r_roll @ r_pitch @ r_yaw


def identity_grid(depth: int, side: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(D, S, S, 3) voxel centres in grid_sample's normalised [-1, 1] coordinates, last dim (x, y, z)."""
    z = torch.linspace(-1 + 1 / depth, 1 - 1 / depth, depth, device=device, dtype=dtype)
    y = torch.linspace(-1 + 1 / side, 1 - 1 / side, side, device=device, dtype=dtype)
    x = y
    grid_z, grid_y, grid_x = torch.meshgrid(z, y, x, indexing="ij")
    return torch.stack([grid_x, grid_y, grid_z], dim=-1)


def sample_field(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Trilinear sample of a (B, C, D, H, W) field at (B, D', H', W', 3) points -> (B, D', H', W', C)."""
    sampled = F.grid_sample(field, points, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled.permute(0, 2, 3, 4, 1)


class DeformationField(nn.Module):
    """z_dyn (B, dyn_dim) -> smooth deformation delta (B, 3, D, V, V), bounded by max_flow.

    A small seed volume (2 x 4 x 4) is grown by upsampling convolutions to (flow_depth, flow_side^2)
    and then upsampled trilinearly to the volume: expression changes are smooth in space, and a
    coarse field cannot carry appearance details (which must come from V_app).
    """

    SEED = (2, 4, 4)

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        width = config.flow_width
        self.width = width
        self.target_shape = (config.volume.depth, config.volume.side, config.volume.side)
        self.max_flow = config.max_flow
        self.project = nn.Linear(config.dyn_dim, width * 2 * 4 * 4)
        layers: list[nn.Module] = []
        depth, side = self.SEED[0], self.SEED[1]
        while side < config.flow_side or depth < config.flow_depth:
            scale = (
                2 if depth < config.flow_depth else 1,
                2 if side < config.flow_side else 1,
                2 if side < config.flow_side else 1,
            )
            layers += [
                nn.Upsample(scale_factor=scale, mode="trilinear"),
                nn.Conv3d(width, width, 3, padding=1),
                nn.SiLU(),
            ]
            depth, side = depth * scale[0], side * scale[1]
        self.grow = nn.Sequential(nn.SiLU(), *layers)
        self.to_flow = nn.Conv3d(width, 3, 3, padding=1)
        # Start from "no deformation" so early training relies on the rigid pose.
        nn.init.zeros_(self.to_flow.weight)
        nn.init.zeros_(self.to_flow.bias)

    def forward(self, z_dyn: torch.Tensor) -> torch.Tensor:
        seed = self.project(z_dyn).view(-1, self.width, *self.SEED)
        flow = torch.tanh(self.to_flow(self.grow(seed))) * self.max_flow
        return F.interpolate(flow, size=self.target_shape, mode="trilinear", align_corners=False)


def canonical_to_image(points: torch.Tensor, pose: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """g(c) = s R (c + delta(c)) + t for canonical points (B, D, H, W, 3) -> image-aligned points."""
    rotation = rotation_matrix(pose[:, 0], pose[:, 1], pose[:, 2])
    translation = torch.cat([pose[:, 3:5], torch.zeros_like(pose[:, :1])], dim=1)
    scale = pose[:, 5].exp()
    deformed = points + sample_field(deformation, points)
    rotated = torch.einsum("bij,bdhwj->bdhwi", rotation, deformed)
    return scale[:, None, None, None, None] * rotated + translation[:, None, None, None, :]


def image_to_canonical(points: torch.Tensor, pose: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Approximate inverse of canonical_to_image: c = R^T (x - t) / s - delta(R^T (x - t) / s).

    The first-order inverse of the deformation is exact for small smooth fields, which max_flow keeps.
    """
    rotation = rotation_matrix(pose[:, 0], pose[:, 1], pose[:, 2])
    translation = torch.cat([pose[:, 3:5], torch.zeros_like(pose[:, :1])], dim=1)
    scale = pose[:, 5].exp()
    centred = (points - translation[:, None, None, None, :]) / scale[:, None, None, None, None]
    rigid = torch.einsum("bji,bdhwj->bdhwi", rotation, centred)
    return rigid - sample_field(deformation, rigid)


def warp_volume(
    volume: torch.Tensor,
    source_pose: torch.Tensor,
    source_deformation: torch.Tensor,
    target_pose: torch.Tensor,
    target_deformation: torch.Tensor,
) -> torch.Tensor:
    """Re-pose V_app (B, C, D, H, W) from the source state to the target state (same shape)."""
    batch, _, depth, height, _ = volume.shape
    grid = identity_grid(depth, height, volume.device, volume.dtype).expand(batch, -1, -1, -1, -1)
    canonical = image_to_canonical(grid, target_pose, target_deformation)
    source_points = canonical_to_image(canonical, source_pose, source_deformation)
    return F.grid_sample(volume, source_points, mode="bilinear", padding_mode="zeros", align_corners=False)
