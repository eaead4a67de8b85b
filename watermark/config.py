"""Configuration of the watermark networks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatermarkModelConfig:
    """work_size: embedder and extractor run on the frame resized to this side, so one network serves
    every resolution (the residual is upsampled back to the frame); n_bits: payload length;
    strength: scale of the masked residual (luma units in [0, 1]), calibrated for PSNR after training.
    """

    n_bits: int = 191
    work_size: int = 128
    embedder_width: int = 16
    extractor_width: int = 32
    message_dim: int = 128
    strength: float = 0.012
