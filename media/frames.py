"""The one conversion between video frames as stored (uint8 HWC) and as networks see them (float CHW)."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(frames: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, H, W) float32 in [0, 1] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] (clipped) -> (T, H, W, 3) uint8 RGB, rounded to nearest."""
    # One float copy, already in the output's (T, H, W, 3) layout, then in place: a 512 px clip is
    # 40 M values, and the watermark's channel passes convert it three times per second of video.
    view = frames.detach().permute(0, 2, 3, 1)
    # Frames from to_tensor are already laid out (T, H, W, 3): clamp out of place (never touch the
    # caller's tensor); otherwise the copy that contiguous() makes is ours to change.
    scaled = view.clamp(0, 1) if view.is_contiguous() else view.contiguous().clamp_(0, 1)
    return scaled.mul_(255).round_().to(torch.uint8).cpu().numpy()
