"""The four encoders of the face latent space (VASA-1 §3.1): V_app, z_id, z_pose, z_dyn.

Pose and dynamics share one motion encoder trunk with two heads, because both read the same
geometry; identity has its own encoder so that it cannot be a function of motion features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generator.face.blocks import ResBlock2d, ResBlock3d
from generator.face.config import FaceModelConfig


def _pyramid(config: FaceModelConfig, stages: int, max_channels: int) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = [nn.Conv2d(3, config.width, 3, padding=1)]
    channels = config.width
    for _ in range(stages):
        out = min(channels * 2, max_channels)
        layers.append(ResBlock2d(channels, out, downsample=True))
        channels = out
    return nn.Sequential(*layers), channels


class AppearanceEncoder(nn.Module):
    """Image (B, 3, S, S) in [0, 1] -> canonical-frame appearance volume V_app (B, C, D, V, V)."""

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        volume = config.volume
        self.volume = volume
        self.trunk, channels = _pyramid(config, config.encoder_downsamples, 8 * config.width)
        self.to_volume = nn.Conv2d(channels, volume.channels * volume.depth, 1)
        self.blocks = nn.Sequential(*[ResBlock3d(volume.channels) for _ in range(config.volume_blocks)])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.to_volume(self.trunk(image * 2 - 1))
        batch, _, height, width = features.shape
        # Lift the 2D feature map into depth slices: (B, C*D, H, W) -> (B, C, D, H, W).
        volume = features.view(batch, self.volume.channels, self.volume.depth, height, width)
        return self.blocks(volume)


class _GlobalEncoder(nn.Module):
    """Image -> one vector: a conv pyramid down to 4x4, then global pooling and an MLP."""

    def __init__(self, config: FaceModelConfig, out_dim: int) -> None:
        super().__init__()
        self.input_size = config.global_input_size
        stages = int(math.log2(self.input_size // 4))
        self.trunk, channels = _pyramid(config, stages, 8 * config.width)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * 16, 256), nn.SiLU(), nn.Linear(256, out_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] != self.input_size:
            image = F.interpolate(image, size=self.input_size, mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.trunk(image * 2 - 1))


class IdentityEncoder(nn.Module):
    """Image -> z_id (B, id_dim), L2-normalised (identity is compared by cosine similarity)."""

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        self.net = _GlobalEncoder(config, config.id_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(image), dim=-1)


# Bounds that keep the rigid transform in a plausible range for a face crop.
MAX_ANGLE = math.pi / 2
MAX_TRANSLATION = 0.5
MAX_LOG_SCALE = 0.5


class MotionEncoder(nn.Module):
    """Image -> (z_pose (B, 6), z_dyn (B, dyn_dim)).

    z_pose = [yaw, pitch, roll (radians), tx, ty (normalised image units), log-scale], each bounded
    with tanh; z_dyn is an unconstrained vector for lips, expression, gaze and blinks together.
    """

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        self.net = _GlobalEncoder(config, config.pose_dim + config.dyn_dim)
        self.pose_dim = config.pose_dim

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(image)
        raw_pose, dyn = out[:, : self.pose_dim], out[:, self.pose_dim :]
        bounds = raw_pose.new_tensor([MAX_ANGLE] * 3 + [MAX_TRANSLATION] * 2 + [MAX_LOG_SCALE])
        return torch.tanh(raw_pose) * bounds, dyn
