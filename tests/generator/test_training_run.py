"""Shared training-run helpers: the learning-rate schedule and atomic checkpoints."""

from __future__ import annotations

import pytest
import torch

from generator.training.run import save_state, warmup_cosine


def test_warmup_then_cosine_down_to_the_floor():
    rates = [warmup_cosine(step, 100, 10, 1e-3, floor=0.1) for step in range(101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3, rel=0.03)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[100] == pytest.approx(1e-4)


def test_checkpoints_replace_atomically(tmp_path):
    path = tmp_path / "state.pt"
    save_state(path, {"step": 1})
    save_state(path, {"step": 2, "weights": torch.ones(3)})
    assert torch.load(path, weights_only=True)["step"] == 2 and not list(tmp_path.glob("*.tmp"))
