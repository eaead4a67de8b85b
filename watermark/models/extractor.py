"""Watermark extractor: frame -> one soft score (logit) per payload bit."""

from __future__ import annotations

import torch
from torch import nn

from watermark.config import WatermarkModelConfig


class WatermarkExtractor(nn.Module):
    """(B, 3, S, S) frames in [0, 1] at work_size -> (B, n_bits) logits (positive: bit 1).

    Strided convolutions then global average pooling: the decision does not depend on where in the
    frame the evidence is, which is what survives crops and small shifts.
    """

    def __init__(self, config: WatermarkModelConfig) -> None:
        super().__init__()
        width = config.extractor_width
        channels = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.GroupNorm(8, width), nn.SiLU()]
        previous = width
        for out in channels:
            layers += [
                nn.Conv2d(previous, out, 3, stride=2, padding=1),
                nn.GroupNorm(8, out),
                nn.SiLU(),
                nn.Conv2d(out, out, 3, padding=1),
                nn.GroupNorm(8, out),
                nn.SiLU(),
            ]
            previous = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(previous, 512), nn.SiLU(), nn.Linear(512, config.n_bits))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pooled = self.features(frames * 2 - 1).mean(dim=(-2, -1))
        return self.head(pooled)
