"""Multi-scale patch discriminator; its intermediate features also serve the feature-matching loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """One scale: image (B, 3, S, S) in [0, 1] -> (patch logits (B, 1, S/8, S/8), features per layer)."""

    def __init__(self, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        blocks, channels = [], 3
        for index in range(layers):
            out = width * 2**index
            blocks.append(
                nn.Sequential(
                    nn.utils.parametrizations.spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1)),
                    nn.LeakyReLU(0.2),
                )
            )
            channels = out
        self.blocks = nn.ModuleList(blocks)
        self.to_logits = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features, x = [], image * 2 - 1
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.to_logits(x), features


class MultiScaleDiscriminator(nn.Module):
    """Patch discriminators at full and half resolution (pix2pixHD); returns one result per scale."""

    def __init__(self, width: int = 32, scales: int = 2) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([PatchDiscriminator(width) for _ in range(scales)])

    def forward(self, image: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        results = []
        for index, discriminator in enumerate(self.discriminators):
            scaled = image if index == 0 else F.avg_pool2d(image, 2**index)
            results.append(discriminator(scaled))
        return results
