"""FaceLatentModel: encode a face into (V_app, z_id, z_pose, z_dyn) and decode any combination."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from generator.face.config import FaceModelConfig
from generator.face.encoders import AppearanceEncoder, IdentityEncoder, MotionEncoder
from generator.face.renderer import FrameRenderer
from generator.face.warping import DeformationField, warp_volume


@dataclass(frozen=True)
class FaceLatents:
    """The latent state of one face image (batched).

    appearance: V_app (B, C, D, V, V); identity: z_id (B, id_dim), unit norm;
    pose: z_pose (B, 6) [yaw, pitch, roll (rad), tx, ty, log-scale]; dynamics: z_dyn (B, dyn_dim).
    """

    appearance: torch.Tensor
    identity: torch.Tensor
    pose: torch.Tensor
    dynamics: torch.Tensor

    def select(self, index: slice | torch.Tensor) -> FaceLatents:
        """The latents of a subset of the batch."""
        return FaceLatents(self.appearance[index], self.identity[index], self.pose[index], self.dynamics[index])

    def expand(self, count: int) -> FaceLatents:
        """A batch of one face as `count` copies (views, no memory): one source for many frames."""
        return FaceLatents(
            *(t.expand(count, *t.shape[1:]) for t in (self.appearance, self.identity, self.pose, self.dynamics))
        )

    @property
    def motion(self) -> torch.Tensor:
        """X = [z_pose, z_dyn] (B, 6 + dyn_dim): what the motion generator produces per frame."""
        return torch.cat([self.pose, self.dynamics], dim=-1)


class FaceLatentModel(nn.Module):
    """Encoders + deformation field + renderer. Images are (B, 3, S, S) float in [0, 1]."""

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        self.config = config
        self.appearance_encoder = AppearanceEncoder(config)
        self.identity_encoder = IdentityEncoder(config)
        self.motion_encoder = MotionEncoder(config)
        self.deformation = DeformationField(config)
        self.renderer = FrameRenderer(config)

    def encode(self, image: torch.Tensor) -> FaceLatents:
        pose, dynamics = self.motion_encoder(image)
        return FaceLatents(self.appearance_encoder(image), self.identity_encoder(image), pose, dynamics)

    def encode_motion(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_pose, z_dyn) only: what a driving frame contributes."""
        return self.motion_encoder(image)

    def decode(self, source: FaceLatents, pose: torch.Tensor, dynamics: torch.Tensor) -> torch.Tensor:
        """Render the source face (appearance, identity) with a target pose and dynamics."""
        volume = warp_volume(
            source.appearance,
            source.pose,
            self.deformation(source.dynamics),
            pose,
            self.deformation(dynamics),
        )
        return self.renderer(volume, source.identity)

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """Reenactment: the source face with the driving frame's pose and dynamics."""
        pose, dynamics = self.encode_motion(driving)
        return self.decode(self.encode(source), pose, dynamics)

    def split_motion(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """X (..., 6 + dyn_dim) -> (z_pose, z_dyn)."""
        return motion[..., : self.config.pose_dim], motion[..., self.config.pose_dim :]
