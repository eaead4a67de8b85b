"""The one conversion between video frames as stored (uint8 HWC) and as networks see them (float CHW)."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(frames: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, H, W) float32 in [0, 1] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] (clipped) -> (T, H, W, 3) uint8 RGB, rounded to nearest."""
    return (frames.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
