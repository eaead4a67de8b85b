"""Synthetic gaze shifts: move the iris inside an eye patch by a known amount.

A smooth displacement field (Gaussian bump around the iris) slides the iris and its surroundings
while the eye corners and the rest of the patch stay put, in the spirit of warping-based gaze
redirection (DeepWarp, Ganin et al. 2016). The network never sees gaze labels: it learns that its
output must move by exactly the displacement of the iris centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Radius of the moved region, in patch half-widths (an iris spans ~0.4 of the eye box).
WARP_SIGMA = 0.35


def _bump(points: torch.Tensor, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """exp(-|p - c|^2 / 2 sigma^2) for points (B, ..., 2) and centres (B, 2)."""
    shape = (centres.shape[0],) + (1,) * (points.dim() - 2) + (2,)
    return torch.exp(-((points - centres.view(shape)) ** 2).sum(-1) / (2 * sigma**2))


def shift_iris(
    patches: torch.Tensor, centres: torch.Tensor, shifts: torch.Tensor, sigma: float = WARP_SIGMA
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp (B, 1, P, P) patches so content near `centres` (B, 2) moves by about `shifts` (B, 2), both in
    normalised coordinates. Returns the warped patches and the exact displacement of each centre (B, 2).

    Backward warp: output(q) = input(q - shift * bump(q)); the centre c lands at the q solving
    q - shift * bump(q) = c, found by fixed-point iteration (a contraction for |shift| < sigma)."""
    batch, _, height, width = patches.shape
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=patches.device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=patches.device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).expand(batch, height, width, 2)
    source = grid - shifts[:, None, None, :] * _bump(grid, centres, sigma)[..., None]
    warped = F.grid_sample(patches, source, mode="bilinear", padding_mode="border", align_corners=False)
    landed = centres + shifts
    for _ in range(20):
        landed = centres + shifts * _bump(landed[:, None], centres, sigma)[:, 0, None]
    return warped, landed - centres


def random_shifts(count: int, max_shift: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """(count, 2) iris shifts uniform in +-max_shift (x, y), eye-box half-widths."""
    return (torch.rand(count, 2, generator=generator) * 2 - 1) * torch.tensor(max_shift)
