"""Watermark extractor: frame -> one soft score (logit) per payload bit."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from watermark.config import WatermarkModelConfig
from watermark.modules.carriers import demodulate, folded_scales, initial_carriers
from watermark.modules.informed import CarrierBand
from watermark.modules.jnd import luma


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
        # The learned branch starts silent: at first the matched branch alone decides, and the learned
        # one gains weight only as it becomes informative (random logits would bias every clip).
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        # Correlation branch: matched filter on the carriers (same initial patterns as the embedder).
        self.carriers = nn.Parameter(initial_carriers(config.n_bits, config.carrier_period))
        self.log_gain = nn.Parameter(torch.tensor(math.log(2500.0)))
        self.subpixel_steps = config.search_subpixel_steps
        self.learned_weight = config.learned_weight
        self.band = CarrierBand(config.band_box, config.band_range)
        self.fold_border = config.fold_border

    def statistics(self, frames: torch.Tensor, scales: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame evidence: (learned logits (B, n_bits), carrier tile means (B, n_scales, P, P)) at the
        rescalings `scales`.

        Both are averaged over the frames of a clip before `decide`: the carrier alignment is then
        found on the whole clip, whose SNR grows with the square root of its length.
        """
        return self.learned_logits(frames), self.carrier_tiles(self.band_image(frames), scales)

    def learned_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_bits): the learned (CNN) branch's logits, weighted (zeros, without running it, at weight 0)."""
        if self.learned_weight == 0:
            return frames.new_zeros(frames.shape[0], self.carriers.shape[0])
        details = high_pass(frames)
        features = self.features(torch.cat([frames * 2 - 1, details * 8], dim=1))
        return self.learned_weight * self.head(features.mean(dim=(-2, -1)))

    def band_image(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W): what the matched branch reads, the carriers' band of the frames' luma. Content
        slower than the tile (and, with an edge-preserving band, the face's edges) is removed."""
        return self.band(luma(frames))

    def carrier_tiles(self, band: torch.Tensor, scales: tuple[float, ...]) -> torch.Tensor:
        """The matched branch's statistics of band images: (B, n_scales, P, P) tile means per rescaling."""
        return folded_scales(band, self.carriers.shape[-1], scales, self.fold_border)

    def decide(self, learned: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
        """(B, n_bits) logits from (possibly clip-averaged) statistics."""
        return learned + self.log_gain.exp() * demodulate(tiles, self.carriers, self.subpixel_steps)

    def forward(self, frames: torch.Tensor, scales: tuple[float, ...]) -> torch.Tensor:
        """Per-frame logits at the rescalings `scales` (each frame aligned on its own)."""
        return self.decide(*self.statistics(frames, scales))
