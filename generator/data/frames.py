"""Decoded-frame cache shared by the generator datasets."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from media.corpus import PreparedClip


class ClipFrameCache:
    """Keeps the decoded frames of recently used clips in memory (least recently used goes first).

    Decoding an H.264 clip costs far more than a training step on the tiny preset, so each clip is
    decoded once per worker while it fits in `max_frames`.
    """

    def __init__(self, max_frames: int = 20_000) -> None:
        self.max_frames = max_frames
        self._frames: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, clip: PreparedClip) -> np.ndarray:
        if clip.clip_id in self._frames:
            self._frames.move_to_end(clip.clip_id)
            return self._frames[clip.clip_id]
        frames = clip.load_frames()
        self._frames[clip.clip_id] = frames
        while sum(len(f) for f in self._frames.values()) > self.max_frames and len(self._frames) > 1:
            self._frames.popitem(last=False)
        return frames


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    return tensor.movedim(-1, -3)
