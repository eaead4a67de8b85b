"""Watermark embedder: frame + payload bits -> luma residual (a small U-Net, message at the bottleneck)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from watermark.config import WatermarkModelConfig
from watermark.modules.carriers import initial_carriers, spread


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
    )


MESSAGE_TILE = 4


def tiled_message(message: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, t, t) message map -> (B, C, H, W) by periodic tiling.

    A spatially varying code gives the renderer patterns to draw (a constant broadcast code learns
    far more slowly); tiling makes it periodic, so a crop only shifts its phase.
    """
    reps = (-(-size[0] // message.shape[-2]), -(-size[1] // message.shape[-1]))
    return message.repeat(1, 1, *reps)[..., : size[0], : size[1]]


class WatermarkEmbedder(nn.Module):
    """(B, 3, S, S) frames in [0, 1] at work_size, (B, n_bits) bits in {0, 1} -> (B, 1, S, S) residual in [-1, 1]."""

    def __init__(self, config: WatermarkModelConfig) -> None:
        super().__init__()
        width = config.embedder_width
        self.down1 = _block(3, width)  # S
        self.down2 = _block(width, 2 * width, stride=2)  # S/2
        self.down3 = _block(2 * width, 4 * width, stride=2)  # S/4
        self.bottleneck = _block(4 * width, 4 * width, stride=2)  # S/8
        self.message_channels = config.message_dim // (MESSAGE_TILE * MESSAGE_TILE) * 4
        self.message = nn.Linear(config.n_bits, self.message_channels * MESSAGE_TILE * MESSAGE_TILE)
        self.fuse = _block(4 * width + self.message_channels, 4 * width)
        self.up3 = _block(8 * width + self.message_channels, 2 * width)
        self.up2 = _block(4 * width, width)
        self.up1 = _block(2 * width, width)
        self.to_residual = nn.Conv2d(width, 1, 3, padding=1)
        self.carriers = nn.Parameter(initial_carriers(config.n_bits, config.carrier_period))
        # Weight of the carrier pattern before tanh; 2 makes the pattern nearly binary at the start.
        self.carrier_weight = nn.Parameter(torch.tensor(2.0))

    def forward(self, frames: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        x = frames * 2 - 1
        skip1 = self.down1(x)
        skip2 = self.down2(skip1)
        skip3 = self.down3(skip2)
        bottom = self.bottleneck(skip3)
        message = self.message(bits * 2 - 1).view(-1, self.message_channels, MESSAGE_TILE, MESSAGE_TILE)
        h = self.fuse(torch.cat([bottom, tiled_message(message, bottom.shape[-2:])], dim=1))
        h = F.interpolate(h, size=skip3.shape[-2:], mode="nearest")
        h = self.up3(torch.cat([h, skip3, tiled_message(message, skip3.shape[-2:])], dim=1))
        h = self.up2(torch.cat([F.interpolate(h, size=skip2.shape[-2:], mode="nearest"), skip2], dim=1))
        h = self.up1(torch.cat([F.interpolate(h, size=skip1.shape[-2:], mode="nearest"), skip1], dim=1))
        pattern = spread(bits, self.carriers, frames.shape[-2:])
        return torch.tanh(self.to_residual(h) + self.carrier_weight * pattern)
