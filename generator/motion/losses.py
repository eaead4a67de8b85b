"""Losses of the motion diffusion model (pure functions of tensors)."""

from __future__ import annotations

import torch


def clean_reconstruction(predicted: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """MSE between the predicted and true clean window (normalised motion)."""
    return torch.mean((predicted - clean) ** 2)


def velocity(predicted: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """MSE of frame-to-frame differences: keeps motion speed (head-pose delta, lip rate) realistic."""
    return torch.mean(((predicted[:, 1:] - predicted[:, :-1]) - (clean[:, 1:] - clean[:, :-1])) ** 2)


def context_continuity(predicted: torch.Tensor, previous: torch.Tensor, keep_previous: torch.Tensor) -> torch.Tensor:
    """The first generated frame should continue the previous window's last one (where it is given)."""
    if not bool(keep_previous.any()):
        return predicted.new_zeros(())
    jump = (predicted[:, 0] - previous[:, -1]) ** 2
    return jump[keep_previous].mean()
