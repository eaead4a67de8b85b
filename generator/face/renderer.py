"""Renderer: warped volume -> 2D features (orthographic projection) -> face image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generator.face.blocks import ModulatedResBlock2d, ResBlock2d
from generator.face.config import FaceModelConfig


class FrameRenderer(nn.Module):
    """(B, C, D, V, V) warped volume + z_id (B, id_dim) -> image (B, 3, S, S) in [0, 1].

    The volume's depth slices are stacked as channels and mixed by a 1x1 convolution (a learned
    projection along depth, as in MegaPortraits); identity modulates the residual blocks (FiLM).
    """

    def __init__(self, config: FaceModelConfig) -> None:
        super().__init__()
        volume = config.volume
        channels = config.renderer_width
        self.project = nn.Conv2d(volume.channels * volume.depth, channels, 1)
        self.blocks = nn.ModuleList(
            [ModulatedResBlock2d(channels, config.id_dim) for _ in range(config.renderer_blocks)]
        )
        upsamples = []
        for _ in range(config.encoder_downsamples):
            out = max(channels // 2, 32)
            upsamples.append(ResBlock2d(channels, out))
            channels = out
        self.upsamples = nn.ModuleList(upsamples)
        self.to_rgb = nn.Sequential(
            nn.GroupNorm(min(8, channels // 4), channels), nn.SiLU(), nn.Conv2d(channels, 3, 3, padding=1)
        )

    def forward(self, volume: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        batch, channels, depth, height, width = volume.shape
        features = self.project(volume.reshape(batch, channels * depth, height, width))
        for block in self.blocks:
            features = block(features, z_id)
        for block in self.upsamples:
            features = block(F.interpolate(features, scale_factor=2, mode="nearest"))
        return torch.sigmoid(self.to_rgb(features))
