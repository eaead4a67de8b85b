"""Self-supervised losses of the gaze network (pure functions)."""

from __future__ import annotations

import torch


def equivariance_loss(first: torch.Tensor, second: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Predictions (B, 2) on two shifts of the same eye must differ by the iris displacement between
    them (B, 2): the network must locate the iris, the one thing the shift moves."""
    return ((first - second - displacement) ** 2).sum(-1).mean()


def mirror_loss(prediction: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """A horizontally mirrored eye looks the other way: x flips sign, y stays."""
    return ((mirrored - prediction * prediction.new_tensor([-1.0, 1.0])) ** 2).sum(-1).mean()


def centring_loss(prediction: torch.Tensor) -> torch.Tensor:
    """Pins the free constant of the equivariance: on average over the corpus the iris sits at the
    eye-box centre (the generator measures gaze relative to the corpus mean anyway)."""
    return (prediction.mean(0) ** 2).sum()
