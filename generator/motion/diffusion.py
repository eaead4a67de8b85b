"""Noise schedule and deterministic DDIM sampling for an X_0-predicting network."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from generator.motion.config import DiffusionConfig


class NoiseSchedule:
    """Cosine schedule (Nichol & Dhariwal 2021): alpha_bar(t) for integer levels 0..train_steps-1."""

    def __init__(self, config: DiffusionConfig) -> None:
        self.config = config
        steps = torch.arange(config.train_steps + 1, dtype=torch.float64) / config.train_steps
        f = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
        alpha_bar = (f / f[0])[1:]
        self.alpha_bar = alpha_bar.clamp(1e-5, 1.0).float()

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(a) x_0 + sqrt(1 - a) eps, with a = alpha_bar(levels) per batch element."""
        a = self.alpha_bar.to(clean.device)[levels].view(-1, *([1] * (clean.dim() - 1)))
        return a.sqrt() * clean + (1 - a).sqrt() * noise

    def sample_levels(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.config.train_steps, (batch,), generator=generator)

    def sampling_levels(self, steps: int) -> list[int]:
        """`steps` levels from the noisiest down to 0, evenly spaced."""
        if steps < 1:
            raise ValueError("the sampler needs at least one step")
        top = self.config.train_steps - 1
        levels = torch.linspace(top, 0, steps).round().long().tolist()
        return sorted(set(levels), reverse=True)


def ddim_sample(
    predict_clean: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    noise: torch.Tensor,
    steps: int,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM from pure noise; `predict_clean(x_t, levels)` returns X_0.

    eta = 0 is deterministic DDIM; eta = 1 re-injects fresh noise at every step like DDPM (more varied
    samples; still reproducible from `generator`'s seed).
    """
    sample = noise
    levels = schedule.sampling_levels(steps)
    alpha_bar = schedule.alpha_bar.to(noise.device)
    clean = sample
    for index, level in enumerate(levels):
        level_batch = torch.full((len(sample),), level, dtype=torch.long, device=noise.device)
        clean = predict_clean(sample, level_batch)
        if index == len(levels) - 1:
            break
        a, a_next = alpha_bar[level], alpha_bar[levels[index + 1]]
        eps = (sample - a.sqrt() * clean) / (1 - a).sqrt()
        sigma = eta * ((1 - a_next) / (1 - a) * (1 - a / a_next)).clamp(min=0).sqrt()
        sample = a_next.sqrt() * clean + (1 - a_next - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0:
            fresh = torch.randn(sample.shape, generator=generator).to(sample.device)
            sample = sample + sigma * fresh
    return clean
