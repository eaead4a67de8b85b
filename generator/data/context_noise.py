"""Noise on the previous window's motion during training, against autoregressive damping.

At generation every window after the first is conditioned on the model's own previous output, not on
real motion. Trained on real contexts only, the tiny model read its own smoother output as "a calm
speaker" and moved less with every window (held-out clips, head-pose change per frame against real:
96 % in the first window, 82 % after it, in the motion latents). Corrupting the context with noise of a
random strength during training (as autoregressive video diffusion models do with their context
frames, e.g. GameNGen) teaches the model to take the context's position, not its fine detail, as given.
"""

from __future__ import annotations

import numpy as np
import torch


def noisy_context(previous: torch.Tensor, max_std: float, rng: np.random.Generator) -> torch.Tensor:
    """(B, K, D) normalised context motion plus Gaussian noise with a per-sample standard deviation
    drawn uniformly from [0, max_std] (0 = unchanged)."""
    if max_std <= 0:
        return previous
    batch = previous.shape[0]
    strength = rng.uniform(0.0, max_std, size=(batch, 1, 1)).astype(np.float32)
    noise = rng.standard_normal(previous.shape).astype(np.float32) * strength
    return previous + torch.from_numpy(noise).to(previous.device)
