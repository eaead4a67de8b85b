"""Watermark extractor: frame -> one soft score (logit) per payload bit."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from watermark.config import WatermarkModelConfig


def high_pass(frames: torch.Tensor) -> torch.Tensor:
    """frames minus their 5x5 local mean: image content is mostly low-pass, the watermark is not."""
    return frames - F.avg_pool2d(frames, 5, stride=1, padding=2, count_include_pad=False)


class WatermarkExtractor(nn.Module):
    """(B, 3, S, S) frames in [0, 1] at work_size -> (B, n_bits) logits (positive: bit 1).

    The network sees the frame and its high-pass residual (a fixed filter, as in steganalysis), then
    strided convolutions and global average pooling: the decision does not depend on where in the
    frame the evidence is, which is what survives crops and small shifts.
    """

    def __init__(self, config: WatermarkModelConfig) -> None:
        super().__init__()
        width = config.extractor_width
        channels = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [nn.Conv2d(6, width, 3, padding=1), nn.GroupNorm(8, width), nn.SiLU()]
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
        inputs = torch.cat([frames * 2 - 1, high_pass(frames) * 8], dim=1)
        pooled = self.features(inputs).mean(dim=(-2, -1))
        return self.head(pooled)
