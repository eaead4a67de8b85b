"""Perceptual (just-noticeable-difference) mask: where a luma change can hide.

Texture masking (local gradient energy) and luminance adaptation (changes are less visible in very
dark and very bright areas), in the spirit of the JND models used by Video Seal and classic
watermarking. The mask has mean ~1 over a typical frame, so `strength` keeps its meaning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) luma (BT.601)."""
    weights = frames.new_tensor(LUMA_WEIGHTS)
    if frames.stride(1) == 1:
        # Channels last, as media.frames.to_tensor views decoded frames: one matrix-vector product, 4x
        # faster there than the weighted sum (which is the faster one on channel planes).
        return (frames.movedim(1, -1) @ weights).unsqueeze(1)
    return (frames * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def jnd_mask(frames: torch.Tensor, *, floor: float = 0.35, ceiling: float = 3.0) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) non-negative visibility-threshold weights."""
    y = luma(frames)
    grad_x = F.pad(y[..., :, 1:] - y[..., :, :-1], (0, 1, 0, 0))
    grad_y = F.pad(y[..., 1:, :] - y[..., :-1, :], (0, 0, 0, 1))
    energy = F.avg_pool2d(grad_x**2 + grad_y**2, kernel_size=5, stride=1, padding=2)
    texture = torch.sqrt(energy + 1e-6) / 0.04
    luminance = 1.0 + 1.5 * (y - 0.5).abs() ** 2
    return (0.5 + texture).mul(luminance).clamp(floor, ceiling)
