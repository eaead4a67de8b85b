"""The gaze network: an eye patch -> the iris offset from the eye-box centre."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GazeNetConfig:
    """width: channels of the first convolution (doubled twice); patch_size: eye patch side."""

    width: int = 16
    patch_size: int = 32


class EyeGazeNet(nn.Module):
    """(B, 1, P, P) normalised eye patches -> (B, 2) iris offset (x right, y down) in eye-box half-widths.

    Strided convolutions keep where things are (no global pooling): the answer is a position."""

    def __init__(self, config: GazeNetConfig = GazeNetConfig()) -> None:
        super().__init__()
        self.config = config
        width = config.width
        layers, channels = [], 1
        for out in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, stride=1 if channels == 1 else 2, padding=1), nn.GELU()]
            channels = out
        self.features = nn.Sequential(*layers)
        cells = (config.patch_size // 8) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * cells, 64), nn.GELU(), nn.Linear(64, 2))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(patches))
