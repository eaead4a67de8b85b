"""Reenactment grids for people to look at: one row per (source, driver, result)."""

from __future__ import annotations

import numpy as np
import torch

from generator.data.frames import to_tensor
from generator.face.model import FaceLatentModel
from media.frames import to_uint8


@torch.no_grad()
def reenactment_grid(model: FaceLatentModel, sources: np.ndarray, drivers: np.ndarray, *, gap: int = 4) -> np.ndarray:
    """sources, drivers: (N, S, S, 3) uint8 face crops -> (N*(S+gap), 3*(S+gap), 3) uint8 image.

    Columns: source, driver, the source face re-posed and re-animated by the driver.
    """
    device = next(model.parameters()).device
    results = model(to_tensor(sources).to(device), to_tensor(drivers).to(device)).clamp(0, 1)
    results = to_uint8(results)
    size = sources.shape[1]
    cell = size + gap
    grid = np.full((len(sources) * cell, 3 * cell, 3), 255, np.uint8)
    for row, images in enumerate(zip(sources, drivers, results, strict=True)):
        for column, image in enumerate(images):
            grid[row * cell : row * cell + size, column * cell : column * cell + size] = image
    return grid
