"""Synthetic head turns that teach the motion model to follow its gaze condition.

A window's gaze label is head direction plus eye rotation. In real clips the head part changes slowly
and is predictable from the previous window's motion, which the model also sees, so it learns to
follow the context and barely reads the gaze token (measured: commanding +15 vs -15 degrees moved the
generated head yaw by 0.09 degrees). This
augmentation breaks the coincidence: a training window whose gaze label is kept is given an extra
head turn that starts where the context ends (so there is no jump at the window's first frame) and
settles exponentially at an offset, and its gaze label moves with it (the label is head direction
plus eye rotation: the eyes are left as they were). The model then sees windows whose gaze label
differs from the context, and the pose that tells them apart - turning toward the label - is the
behaviour a gaze command should produce.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class GazeTurnAugmentation:
    """probability: share of windows with a kept gaze label that get a turn (0 = off);
    max_std: turn offsets are uniform in +-max_std corpus standard deviations of head yaw / pitch
    (independently): in the face latent's own units, so the renderer is asked for poses of the range it
    was trained on (a face latent's pose axes need not be calibrated degrees);
    time_constant_frames: how fast the turn settles (63 % of the offset after this many frames)."""

    probability: float = 0.0
    max_std: float = 3.0
    time_constant_frames: float = 8.0


def turn_profile(frames: int, time_constant: float) -> np.ndarray:
    """(frames,) 1 - exp(-(t + 1) / tau): near 0 at the first frame, settling at 1."""
    return 1.0 - np.exp(-(np.arange(frames) + 1.0) / time_constant)


def add_gaze_turns(
    motion: torch.Tensor,
    gaze: torch.Tensor,
    eligible: torch.Tensor,
    augmentation: GazeTurnAugmentation,
    pose_std: np.ndarray,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """motion (B, W, D) with head yaw, pitch in dims 0, 1 (radians); gaze (B, 2) window-mean labels
    (radians); eligible (B,) bool (windows whose gaze label the model will see); pose_std (2,) the
    corpus standard deviation of yaw and pitch.

    Returns new (motion, gaze): turned windows have yaw/pitch offset by profile(t) x delta and their
    label by the profile's mean x delta; the others are unchanged.
    """
    batch, frames = motion.shape[:2]
    chosen = eligible.cpu().numpy() & (rng.random(batch) < augmentation.probability)
    if not chosen.any():
        return motion, gaze
    limit = augmentation.max_std * np.asarray(pose_std, dtype=np.float64)
    delta = rng.uniform(-1.0, 1.0, size=(batch, 2)) * limit * chosen[:, None]
    profile = turn_profile(frames, augmentation.time_constant_frames)
    turn = torch.from_numpy((profile[None, :, None] * delta[:, None, :]).astype(np.float32)).to(motion.device)
    motion = motion.clone()
    motion[..., :2] += turn
    return motion, gaze + turn.mean(1).to(gaze.device)
