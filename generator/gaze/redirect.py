"""Gaze redirection on whole face crops, and the gaze network's reading of rendered frames.

Face-model training uses both: a driving frame whose irises were moved by a known amount (the same
Gaussian-bump warp the gaze network was trained with, generator/gaze/warp.py, placed at the eyes of
the frame) widens the corpus's narrow range of eye rotation, and the gaze network, reading the eye
boxes of the rendering and of the driving frame, tells whether the rendering kept the eyes' direction:
at 128 px an iris is a few pixels, too little for a reconstruction loss to notice where it points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from generator.gaze.eyes import PATCH_SIZE, EyeFinder, dark_centre
from generator.gaze.warp import WARP_SIGMA
from media.frames import to_uint8

# cv2.COLOR_RGB2GRAY, as the eye finder and the gaze network's training patches use.
GREY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class EyeLayout:
    """Where the eyes of a batch of (B, 3, S, S) frames are: `boxes` (B, 2, 4) as (x, y, w, h) in pixels,
    `irises` (B, 2, 2) iris centres in normalised eye-box coordinates, `found` (B,) bool (False: the
    sample's boxes are zeros and it takes no part)."""

    boxes: torch.Tensor
    irises: torch.Tensor
    found: torch.Tensor

    @classmethod
    def detect(cls, frames: torch.Tensor, finder: EyeFinder, near: np.ndarray | None = None) -> EyeLayout:
        """`near`: (2, 4) boxes where the eyes are expected, in pixels (see EyeFinder.boxes_and_patches)."""
        images = to_uint8(frames.detach().cpu())
        boxes = np.zeros((len(images), 2, 4), np.float32)
        irises = np.zeros((len(images), 2, 2), np.float32)
        found = np.zeros(len(images), bool)
        for index, image in enumerate(images):
            eyes = finder.boxes_and_patches(image, near)
            if eyes is None:
                continue
            found[index] = True
            boxes[index] = eyes[0]
            irises[index] = [dark_centre(patch) for patch in eyes[1]]
        device = frames.device
        return cls(*(torch.from_numpy(array).to(device) for array in (boxes, irises, found)))


def _to_frame_coordinates(boxes: torch.Tensor, points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Eye-box coordinates (-1..1 across the box) -> the frame's normalised coordinates (-1..1)."""
    height, width = size
    x = boxes[..., 0] + (points[..., 0] + 1) / 2 * boxes[..., 2]
    y = boxes[..., 1] + (points[..., 1] + 1) / 2 * boxes[..., 3]
    return torch.stack([x / width * 2 - 1, y / height * 2 - 1], dim=-1)


def redirect_gaze(frames: torch.Tensor, layout: EyeLayout, shifts: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) frames with both irises moved by `shifts` (B, 2) eye-box half-widths (x right,
    y down; both eyes turn together). Samples whose eyes were not found are returned unchanged."""
    batch, _, height, width = frames.shape
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=frames.device)
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=frames.device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).expand(batch, height, width, 2)
    centres = _to_frame_coordinates(layout.boxes, layout.irises, (height, width))  # (B, 2 eyes, 2)
    # A half-width of the box in the frame's normalised units, per eye and axis.
    half = torch.stack([layout.boxes[..., 2] / width, layout.boxes[..., 3] / height], dim=-1)
    displacement = torch.zeros_like(grid)
    for eye in range(2):
        scale = half[:, eye]  # (B, 2)
        offset = (grid - centres[:, eye, None, None]) / scale[:, None, None]
        bump = torch.exp(-(offset**2).sum(-1) / (2 * WARP_SIGMA**2))
        displacement = displacement + (shifts * scale)[:, None, None] * bump[..., None]
    displacement = displacement * layout.found[:, None, None, None]
    return F.grid_sample(frames, grid - displacement, mode="bilinear", padding_mode="border", align_corners=False)


def eye_patches(frames: torch.Tensor, layout: EyeLayout) -> torch.Tensor:
    """(B, 2, P, P) normalised grey eye patches of (B, 3, H, W) frames at `layout`'s boxes, as
    EyeFinder.patches cuts them, but differentiable (so a loss on the gaze network's reading of a
    rendering reaches the renderer)."""
    batch, _, height, width = frames.shape
    grey = torch.einsum("bchw,c->bhw", frames, frames.new_tensor(GREY_WEIGHTS))[:, None] * 255
    steps = (torch.arange(PATCH_SIZE, device=frames.device, dtype=frames.dtype) + 0.5) / PATCH_SIZE * 2 - 1
    local = torch.stack(torch.meshgrid(steps, steps, indexing="xy"), -1).expand(batch, -1, -1, -1)  # over the box
    patches = []
    for eye in range(2):
        boxes = layout.boxes[:, eye, None, None].expand(-1, PATCH_SIZE, PATCH_SIZE, -1)  # (B, P, P, 4)
        points = _to_frame_coordinates(boxes, local, (height, width))
        patches.append(F.grid_sample(grey, points, mode="bilinear", padding_mode="border", align_corners=False)[:, 0])
    patches = torch.stack(patches, dim=1)
    mean = patches.mean(dim=(-2, -1), keepdim=True)
    std = patches.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (patches - mean) / (std + 1e-3)


def read_iris_offsets(network: torch.nn.Module, frames: torch.Tensor, layout: EyeLayout) -> torch.Tensor:
    """(B, 2) the gaze network's iris offset (x right, y down, half-widths), mean of both eyes, at
    `layout`'s boxes; differentiable in `frames`."""
    patches = eye_patches(frames, layout)
    return network(patches.flatten(0, 1)[:, None]).view(len(frames), 2, 2).mean(1)
