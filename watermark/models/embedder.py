"""Watermark embedder: frame + payload bits -> luma residual (a small U-Net, message at the bottleneck)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from watermark.config import WatermarkModelConfig


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
    )


class WatermarkEmbedder(nn.Module):
    """(B, 3, S, S) frames in [0, 1] at work_size, (B, n_bits) bits in {0, 1} -> (B, 1, S, S) residual in [-1, 1]."""

    def __init__(self, config: WatermarkModelConfig) -> None:
        super().__init__()
        width = config.embedder_width
        self.down1 = _block(3, width)  # S
        self.down2 = _block(width, 2 * width, stride=2)  # S/2
        self.down3 = _block(2 * width, 4 * width, stride=2)  # S/4
        self.bottleneck = _block(4 * width, 4 * width, stride=2)  # S/8
        self.message = nn.Sequential(nn.Linear(config.n_bits, config.message_dim), nn.SiLU())
        self.fuse = _block(4 * width + config.message_dim, 4 * width)
        self.up3 = _block(8 * width, 2 * width)
        self.up2 = _block(4 * width, width)
        self.up1 = _block(2 * width, width)
        self.to_residual = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, frames: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        x = frames * 2 - 1
        skip1 = self.down1(x)
        skip2 = self.down2(skip1)
        skip3 = self.down3(skip2)
        bottom = self.bottleneck(skip3)
        message = self.message(bits * 2 - 1)[:, :, None, None].expand(-1, -1, *bottom.shape[-2:])
        h = self.fuse(torch.cat([bottom, message], dim=1))
        h = self.up3(torch.cat([F.interpolate(h, size=skip3.shape[-2:], mode="nearest"), skip3], dim=1))
        h = self.up2(torch.cat([F.interpolate(h, size=skip2.shape[-2:], mode="nearest"), skip2], dim=1))
        h = self.up1(torch.cat([F.interpolate(h, size=skip1.shape[-2:], mode="nearest"), skip1], dim=1))
        return torch.tanh(self.to_residual(h))
