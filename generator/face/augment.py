"""Augmentations for self-reenactment training (kornia, batched, per-sample parameters).

Geometric jitter of source and driver (independently) widens the pose distribution beyond what a few
minutes of video show; colour jitter on the motion encoder's input only stops appearance from
leaking through z_pose / z_dyn (the reconstruction target keeps its true colours).
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
from torch import nn


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 8.0
    translate: float = 0.06
    scale: tuple[float, float] = (0.92, 1.08)
    flip_probability: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    hue: float = 0.05


class PairAugmenter(nn.Module):
    """geometry(image) for sources and targets; appearance(image) for the motion encoder's input."""

    def __init__(self, config: AugmentConfig = AugmentConfig()) -> None:
        super().__init__()
        self.geometry = K.AugmentationSequential(
            K.RandomAffine(
                degrees=config.rotation_degrees,
                translate=(config.translate, config.translate),
                scale=config.scale,
                padding_mode="reflection",
                p=0.8,
            ),
        )
        self.appearance = K.AugmentationSequential(
            K.ColorJitter(config.brightness, config.contrast, config.saturation, config.hue, p=0.9),
            K.RandomGrayscale(p=0.1),
        )
        self.flip_probability = config.flip_probability

    def flip_pairs(self, *images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Mirror whole samples (source and driver together) with probability flip_probability."""
        flip = torch.rand(images[0].shape[0], generator=generator) < self.flip_probability
        return tuple(torch.where(flip[:, None, None, None].to(image.device), image.flip(-1), image) for image in images)
