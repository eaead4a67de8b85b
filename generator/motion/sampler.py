"""Window-by-window motion sampling with classifier-free guidance (batch and streaming share it).

Each window is sampled from noise with DDIM, conditioned on its audio, on the last K frames (motion
and audio) of what came before, and on the controls. Before the first window, "what came before" is
the portrait's own motion held still over silence, so the sequence starts from the portrait's pose
and expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.motion.config import GuidanceScales
from generator.motion.diffusion import NoiseSchedule, ddim_sample
from generator.motion.model import CONDITIONS, MotionConditions, MotionDiffusionTransformer


@dataclass(frozen=True)
class ControlValues:
    """Controls in the model's label units (None = absent): gaze radians (2,), distance (1,), emotion (E,)."""

    gaze: np.ndarray | None = None
    distance: np.ndarray | None = None
    emotion: np.ndarray | None = None


class MotionSampler:
    """Stateful: call `next_window` with each window's audio features, in order."""

    def __init__(
        self,
        model: MotionDiffusionTransformer,
        schedule: NoiseSchedule,
        start_motion: torch.Tensor,
        silence: np.ndarray,
        controls: ControlValues,
        *,
        steps: int,
        guidance: GuidanceScales,
        generator: torch.Generator,
        eta: float = 0.0,
    ) -> None:
        self.model = model
        self.schedule = schedule
        self.device = start_motion.device
        config = model.config
        self.context = config.context
        self.max_window = config.window
        self.steps = steps
        self.guidance = guidance
        self.generator = generator
        self.eta = eta
        self.controls = controls
        self.previous = model.normalize_motion(start_motion.reshape(1, -1)).repeat(self.context, 1)
        self.previous_audio = np.repeat(silence[None], self.context, 0)
        self.emotion_dim = config.emotion_dim

    def _conditions(self, audio: np.ndarray) -> MotionConditions:
        device, controls = self.device, self.controls

        def tensor(values: np.ndarray | None, size: int) -> torch.Tensor:
            data = np.zeros(size, np.float32) if values is None else np.asarray(values, np.float32).reshape(size)
            return torch.from_numpy(data).to(device)[None]

        keep = {name: torch.ones(1, dtype=torch.bool, device=device) for name in CONDITIONS}
        for name in ("gaze", "distance", "emotion"):
            if getattr(controls, name) is None:
                keep[name][:] = False
        full_audio = np.concatenate([self.previous_audio, audio])
        return MotionConditions(
            audio=torch.from_numpy(full_audio).to(device)[None],
            previous=self.previous[None],
            gaze=tensor(controls.gaze, 2),
            distance=tensor(controls.distance, 1),
            emotion=tensor(controls.emotion, self.emotion_dim),
            keep=keep,
        )

    def _guided(self, conditions: MotionConditions):
        """predict_clean for DDIM: full prediction pushed away from each guided condition's absence."""
        scales = {name: getattr(self.guidance, name, 0.0) for name in CONDITIONS}
        guided = [name for name, scale in scales.items() if scale > 0 and bool(conditions.keep[name].all())]
        batch = MotionConditions.concatenate([conditions] + [conditions.without(name) for name in guided])

        def predict_clean(noisy: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
            copies = 1 + len(guided)
            out = self.model(noisy.repeat(copies, 1, 1), levels.repeat(copies), batch)
            full, rest = out[:1], out[1:]
            result = full.clone()
            for index, name in enumerate(guided):
                result = result + scales[name] * (full - rest[index : index + 1])
            return result

        return predict_clean

    @torch.inference_mode()
    def next_window(self, audio: np.ndarray) -> torch.Tensor:
        """(W, A) audio features of the next W <= window frames -> (W, D) motion (denormalised)."""
        frames = len(audio)
        if not 1 <= frames <= self.max_window:
            raise ValueError(f"a window holds 1-{self.max_window} frames, got {frames}")
        conditions = self._conditions(audio)
        dim = self.previous.shape[-1]
        noise = torch.randn((1, frames, dim), generator=self.generator).to(self.device)
        clean = ddim_sample(
            self._guided(conditions), self.schedule, noise, self.steps, eta=self.eta, generator=self.generator
        )[0]
        history = torch.cat([self.previous, clean])
        self.previous = history[-self.context :]
        self.previous_audio = np.concatenate([self.previous_audio, audio])[-self.context :]
        return self.model.denormalize_motion(clean)
