"""Configuration of the motion diffusion transformer, its noise schedule and its sampler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MotionModelConfig:
    """Sizes of the transformer and of its inputs.

    motion_dim: 6 + dyn_dim of the face model it drives; audio_dim: per-frame audio feature size.
    window: frames generated per window (2 s at 25 fps); context: the last K frames of the previous
    window (motion and audio) that condition the next one. emotion_dim: size of the emotion space.
    """

    motion_dim: int = 70
    audio_dim: int = 160
    window: int = 50
    context: int = 10
    emotion_dim: int = 8
    width: int = 256
    layers: int = 4
    heads: int = 4
    ff_multiplier: int = 4
    dropout: float = 0.1

    @property
    def max_tokens(self) -> int:
        return self.context + self.window


PRESETS: dict[str, MotionModelConfig] = {
    "tiny": MotionModelConfig(),
    "base": MotionModelConfig(motion_dim=134, width=384, layers=6, heads=6),
    # VASA-1's size: 8 layers, width 512, 8 heads.
    "full": MotionModelConfig(motion_dim=262, width=512, layers=8, heads=8),
}


def motion_preset(name: str) -> MotionModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown motion preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class DiffusionConfig:
    """Cosine noise schedule over `train_steps` levels; the network predicts X_0."""

    train_steps: int = 1000


@dataclass(frozen=True)
class GuidanceScales:
    """Classifier-free guidance scale per condition (0 = conditional prediction only)."""

    audio: float = 0.5
    gaze: float = 1.0
    distance: float = 0.0
    # Guidance on the emotion offset: the presets come from two identities' acted clips and are small
    # next to the spread of motion a sample explores; 2.0 makes them show (bench/talking_face.py).
    emotion: float = 2.0
