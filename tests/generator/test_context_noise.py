from __future__ import annotations

import numpy as np
import torch

from generator.data.context_noise import noisy_context


def test_context_noise_has_a_per_sample_strength_up_to_the_maximum():
    previous = torch.zeros(200, 10, 16)
    noisy = noisy_context(previous, 0.5, np.random.default_rng(0))
    strength = noisy.std(dim=(1, 2))
    assert noisy.shape == previous.shape
    assert float(strength.max()) <= 0.5 * 1.2 and float(strength.min()) < 0.1
    assert 0.2 < float(strength.mean()) < 0.3  # uniform on [0, 0.5]: mean 0.25


def test_no_context_noise_leaves_the_context_alone():
    previous = torch.randn(3, 4, 5)
    assert noisy_context(previous, 0.0, np.random.default_rng(0)) is previous
