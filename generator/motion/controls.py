"""Generation controls (gaze, head distance, emotion) and the estimators that label training clips.

Labels come from the face latent space and from measurements on the face crops:
- gaze (theta, phi): head yaw/pitch from z_pose plus the eye rotation that the gaze network trained
  here reads from the eye region (generator.gaze);
- head distance: -log-scale of z_pose (a face twice as large is log 2 closer);
- emotion: the clip's mean z_dyn projected on the principal axes of clip means (whitened), the
  "emotion space". Named presets are offsets in that space: for each identity recorded with
  emotion labels (MEAD-style clips), the labelled clip's position minus the same person's neutral
  clip, averaged over identities. Generation adds the offset to the portrait's own position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

EMOTION_PRESETS = ("neutral", "happy", "angry", "surprised")
_EMOTION_IN_NAME = re.compile(r"(?:^|[_\-])(angry|contempt|disgusted|fear|happy|neutral|sad|surprised)(?:[_\-]|$)")


@dataclass(frozen=True)
class Controls:
    """User controls of one generation. None = unconditioned (the model chooses).

    gaze_degrees: (theta, phi) = (horizontal, vertical) gaze direction, degrees, + right / + up.
    distance: head distance relative to the portrait (1.0 = as in the portrait, 1.2 = 20 % farther).
    emotion: one of EMOTION_PRESETS.
    """

    gaze_degrees: tuple[float, float] | None = None
    distance: float | None = None
    emotion: str | None = None

    def __post_init__(self) -> None:
        if self.distance is not None and not 0.5 <= self.distance <= 2.0:
            raise ValueError(f"distance {self.distance} is outside 0.5-2.0 (relative to the portrait)")
        if self.gaze_degrees is not None and any(abs(a) > 45 for a in self.gaze_degrees):
            raise ValueError(f"gaze {self.gaze_degrees} is outside ±45 degrees")
        if self.emotion is not None and self.emotion not in EMOTION_PRESETS:
            raise ValueError(f"unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTION_PRESETS)}")


def emotion_from_clip_name(name: str) -> str | None:
    """The emotion label in a MEAD-style clip name (`m030_front_happy_level3_001`), if any."""
    match = _EMOTION_IN_NAME.search(name.lower())
    return match.group(1) if match else None


@dataclass(frozen=True)
class EmotionSpace:
    """Whitened principal axes of clip-mean z_dyn, and named offsets in that space."""

    mean: np.ndarray  # (dyn_dim,)
    axes: np.ndarray  # (emotion_dim, dyn_dim), rows scaled so projections have unit variance
    presets: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (emotion_dim,)
    derivation: dict[str, list[str]] = field(default_factory=dict)  # name -> identities used

    @property
    def dim(self) -> int:
        return len(self.axes)

    def project(self, dynamics: np.ndarray) -> np.ndarray:
        """(..., dyn_dim) -> (..., emotion_dim)."""
        return (np.asarray(dynamics) - self.mean) @ self.axes.T

    @classmethod
    def fit(cls, clip_means: np.ndarray, dim: int) -> EmotionSpace:
        mean = clip_means.mean(0)
        _, singular, vt = np.linalg.svd(clip_means - mean, full_matrices=False)
        available = min(dim, len(singular))
        std = singular[:available] / math.sqrt(max(len(clip_means) - 1, 1))
        axes = vt[:available] / np.maximum(std, 1e-6)[:, None]
        # Fewer clips than dimensions: the missing axes are zero (those coordinates carry nothing).
        if len(axes) < dim:
            axes = np.pad(axes, ((0, dim - len(axes)), (0, 0)))
        return cls(mean.astype(np.float32), axes.astype(np.float32))

    def with_presets(self, positions: dict[str, np.ndarray], labels: dict[str, tuple[str, str]]) -> EmotionSpace:
        """positions: clip -> emotion-space position; labels: clip -> (identity, emotion)."""
        by_identity: dict[str, dict[str, np.ndarray]] = {}
        for clip, (identity, emotion) in labels.items():
            by_identity.setdefault(identity, {})[emotion] = positions[clip]
        presets = {"neutral": np.zeros(self.dim, dtype=np.float32)}
        derivation: dict[str, list[str]] = {"neutral": []}
        for name in EMOTION_PRESETS[1:]:
            offsets = [e[name] - e["neutral"] for e in by_identity.values() if name in e and "neutral" in e]
            users = [i for i, e in by_identity.items() if name in e and "neutral" in e]
            if offsets:
                presets[name] = np.mean(offsets, axis=0).astype(np.float32)
                derivation[name] = sorted(users)
        return EmotionSpace(self.mean, self.axes, presets, derivation)

    def to_json(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "axes": self.axes.tolist(),
            "presets": {k: v.tolist() for k, v in self.presets.items()},
            "derivation": self.derivation,
        }

    @classmethod
    def from_json(cls, data: dict) -> EmotionSpace:
        return cls(
            np.asarray(data["mean"], dtype=np.float32),
            np.asarray(data["axes"], dtype=np.float32),
            {k: np.asarray(v, dtype=np.float32) for k, v in data["presets"].items()},
            data.get("derivation", {}),
        )


def head_distance(log_scale: np.ndarray) -> np.ndarray:
    """Distance label from z_pose's log-scale: larger faces are closer."""
    return -np.asarray(log_scale, dtype=np.float32)
