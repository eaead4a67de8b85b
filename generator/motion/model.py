"""The motion diffusion transformer: noisy motion window + conditions -> clean motion window (X_0).

Token sequence: [time, gaze, distance, emotion] condition tokens, K context tokens (the previous
window's last motion frames and their audio), W window tokens (noisy motion + the window's audio).
Every condition can be absent per sample (`keep` masks): an absent one is replaced by a learned null
embedding, which is what classifier-free guidance contrasts against.

Motion and control values enter normalised by statistics of the training corpus, kept as buffers so
the checkpoint carries them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from generator.audio import AudioEncoder
from generator.motion.config import MotionModelConfig

CONDITIONS = ("audio", "previous", "gaze", "distance", "emotion")


@dataclass(frozen=True)
class MotionConditions:
    """Conditions of one batch of windows. Shapes: audio (B, K + W, A) (context audio first);
    previous (B, K, D) motion (normalised); gaze (B, 2) radians; distance (B, 1); emotion (B, E);
    keep: condition name -> (B,) bool, False where the condition is absent."""

    audio: torch.Tensor
    previous: torch.Tensor
    gaze: torch.Tensor
    distance: torch.Tensor
    emotion: torch.Tensor
    keep: dict[str, torch.Tensor]

    def repeat(self, times: int) -> MotionConditions:
        return MotionConditions(
            self.audio.repeat(times, 1, 1),
            self.previous.repeat(times, 1, 1),
            self.gaze.repeat(times, 1),
            self.distance.repeat(times, 1),
            self.emotion.repeat(times, 1),
            {name: mask.repeat(times) for name, mask in self.keep.items()},
        )

    def without(self, name: str) -> MotionConditions:
        keep = dict(self.keep)
        keep[name] = torch.zeros_like(keep[name])
        return MotionConditions(self.audio, self.previous, self.gaze, self.distance, self.emotion, keep)

    @staticmethod
    def concatenate(parts: list[MotionConditions]) -> MotionConditions:
        return MotionConditions(
            torch.cat([p.audio for p in parts]),
            torch.cat([p.previous for p in parts]),
            torch.cat([p.gaze for p in parts]),
            torch.cat([p.distance for p in parts]),
            torch.cat([p.emotion for p in parts]),
            {name: torch.cat([p.keep[name] for p in parts]) for name in CONDITIONS},
        )


def timestep_embedding(levels: torch.Tensor, width: int, max_period: float = 10_000.0) -> torch.Tensor:
    half = width // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=levels.device, dtype=torch.float32) / half)
    angles = levels.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class MotionDiffusionTransformer(nn.Module):
    def __init__(self, config: MotionModelConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.audio_encoder = AudioEncoder(config.audio_dim, width, config.dropout)
        self.motion_in = nn.Linear(config.motion_dim, width)
        self.previous_in = nn.Linear(config.motion_dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.gaze_in = nn.Sequential(nn.Linear(2, width), nn.SiLU(), nn.Linear(width, width))
        self.distance_in = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width))
        self.emotion_in = nn.Sequential(nn.Linear(config.emotion_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.null = nn.ParameterDict(
            {
                "audio": nn.Parameter(torch.zeros(width)),
                "previous": nn.Parameter(torch.zeros(width)),
                "gaze": nn.Parameter(torch.zeros(width)),
                "distance": nn.Parameter(torch.zeros(width)),
                "emotion": nn.Parameter(torch.zeros(width)),
            }
        )
        self.position = nn.Parameter(torch.randn(config.max_tokens, width) * 0.02)
        self.condition_type = nn.Parameter(torch.randn(4, width) * 0.02)
        self.segment_type = nn.Parameter(torch.randn(2, width) * 0.02)  # context, window
        layer = nn.TransformerEncoderLayer(
            width,
            config.heads,
            config.ff_multiplier * width,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, config.motion_dim)
        # Training-corpus statistics (set by the trainer, saved with the weights).
        self.register_buffer("motion_mean", torch.zeros(config.motion_dim))
        self.register_buffer("motion_std", torch.ones(config.motion_dim))
        self.register_buffer("gaze_mean", torch.zeros(2))
        self.register_buffer("gaze_std", torch.ones(2))
        self.register_buffer("distance_mean", torch.zeros(1))
        self.register_buffer("distance_std", torch.ones(1))

    # -- normalisation ------------------------------------------------------------------------
    def normalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        return (motion - self.motion_mean) / self.motion_std

    def denormalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        return motion * self.motion_std + self.motion_mean

    def set_statistics(self, motion: torch.Tensor, gaze: torch.Tensor, distance: torch.Tensor) -> None:
        """Per-dimension mean/std of motion (N, D), gaze labels (N, 2), distance labels (N, 1)."""
        for name, values in (("motion", motion), ("gaze", gaze), ("distance", distance)):
            getattr(self, f"{name}_mean").copy_(values.mean(0))
            getattr(self, f"{name}_std").copy_(values.std(0).clamp_min(1e-4))

    # -- forward ------------------------------------------------------------------------------
    def _masked(self, values: torch.Tensor, keep: torch.Tensor, name: str) -> torch.Tensor:
        shape = (-1,) + (1,) * (values.dim() - 1)
        return torch.where(keep.view(shape), values, self.null[name].to(values.dtype))

    def forward(self, noisy: torch.Tensor, levels: torch.Tensor, conditions: MotionConditions) -> torch.Tensor:
        """noisy (B, W, D) normalised motion at noise `levels` (B,) -> predicted clean window (B, W, D)."""
        batch, window, _ = noisy.shape
        context = conditions.previous.shape[1]
        if window > self.config.window or context != self.config.context:
            raise ValueError(
                f"window {window} / context {context} exceed the model's {self.config.window} / {self.config.context}"
            )
        keep = conditions.keep
        audio = self._masked(self.audio_encoder(conditions.audio), keep["audio"], "audio")
        previous_motion = self.previous_in(conditions.previous)
        keep_previous = keep["previous"].view(-1, 1, 1)
        context_tokens = torch.where(keep_previous, previous_motion + audio[:, :context], self.null["previous"])
        window_tokens = self.motion_in(noisy) + audio[:, context:]
        sequence = torch.cat([context_tokens, window_tokens], dim=1) + self.position[: context + window]
        sequence = sequence + torch.cat(
            [self.segment_type[0].expand(context, -1), self.segment_type[1].expand(window, -1)]
        )
        gaze = (conditions.gaze - self.gaze_mean) / self.gaze_std
        distance = (conditions.distance - self.distance_mean) / self.distance_std
        condition_tokens = (
            torch.stack(
                [
                    self.time_mlp(timestep_embedding(levels, self.config.width)),
                    self._masked(self.gaze_in(gaze), keep["gaze"], "gaze"),
                    self._masked(self.distance_in(distance), keep["distance"], "distance"),
                    self._masked(self.emotion_in(conditions.emotion), keep["emotion"], "emotion"),
                ],
                dim=1,
            )
            + self.condition_type
        )
        hidden = self.transformer(torch.cat([condition_tokens, sequence], dim=1))
        return self.out(self.out_norm(hidden[:, 4 + context :]))
