"""Attacks on watermarked frames: what platforms and people do to video.

Each attack maps (B, 3, H, W) float frames in [0, 1] to attacked frames (the size may change).
Real codecs (H.264/H.265 through PyAV, JPEG through OpenCV) are not differentiable; in training they
pass gradients straight through (the attacked value forward, the identity backward).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import kornia
import numpy as np
import torch
import torch.nn.functional as F

from media.frames import to_uint8
from media.video import transcode_frames

Attack = Callable[[torch.Tensor], torch.Tensor]


def straight_through(original: torch.Tensor, attacked: torch.Tensor) -> torch.Tensor:
    return original + (attacked - original).detach()


def _from_uint8(frames: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(frames).to(like.device, like.dtype).permute(0, 3, 1, 2) / 255


def video_codec(
    frames: torch.Tensor, *, codec: str = "libx264", crf: int = 28, preset: str = "veryfast"
) -> torch.Tensor:
    """Encode the batch as consecutive frames of a yuv420p video and decode it back (straight-through)."""
    decoded = transcode_frames(to_uint8(frames), codec=codec, crf=crf, preset=preset)
    original = frames[..., : decoded.shape[1], : decoded.shape[2]]
    return straight_through(original, _from_uint8(decoded, frames))


def jpeg(frames: torch.Tensor, *, quality: int = 50) -> torch.Tensor:
    images = to_uint8(frames)
    decoded = []
    for image in images:
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        decoded.append(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])
    return straight_through(frames, _from_uint8(np.stack(decoded), frames))


def resize(frames: torch.Tensor, *, scale: float = 0.5) -> torch.Tensor:
    height, width = frames.shape[-2:]
    size = (max(16, round(height * scale)), max(16, round(width * scale)))
    return F.interpolate(frames, size=size, mode="bilinear", antialias=scale < 1, align_corners=False)


def crop(frames: torch.Tensor, *, fraction: float = 0.75, center: tuple[float, float] = (0.5, 0.5)) -> torch.Tensor:
    """Keep a `fraction` x `fraction` window (of the side) centred at `center` (relative coordinates)."""
    height, width = frames.shape[-2:]
    crop_h, crop_w = max(16, round(height * fraction)), max(16, round(width * fraction))
    top = min(max(0, round(center[1] * height - crop_h / 2)), height - crop_h)
    left = min(max(0, round(center[0] * width - crop_w / 2)), width - crop_w)
    return frames[..., top : top + crop_h, left : left + crop_w]


def rotate(frames: torch.Tensor, *, degrees: float = 3.0) -> torch.Tensor:
    angle = torch.full((frames.shape[0],), float(degrees), device=frames.device, dtype=frames.dtype)
    return kornia.geometry.transform.rotate(frames, angle, padding_mode="reflection")


def blur(frames: torch.Tensor, *, sigma: float = 1.0) -> torch.Tensor:
    kernel = 2 * math.ceil(2 * sigma) + 1
    return kornia.filters.gaussian_blur2d(frames, (kernel, kernel), (sigma, sigma))


def brightness(frames: torch.Tensor, *, factor: float = 1.3) -> torch.Tensor:
    return (frames * factor).clamp(0, 1)


def contrast(frames: torch.Tensor, *, factor: float = 1.3) -> torch.Tensor:
    mean = frames.mean(dim=(-3, -2, -1), keepdim=True)
    return ((frames - mean) * factor + mean).clamp(0, 1)


def saturation(frames: torch.Tensor, *, factor: float = 1.3) -> torch.Tensor:
    return kornia.enhance.adjust_saturation(frames, factor).clamp(0, 1)


def noise(frames: torch.Tensor, *, std: float = 0.02, generator: torch.Generator | None = None) -> torch.Tensor:
    return (frames + std * torch.randn(frames.shape, generator=generator, device=frames.device)).clamp(0, 1)


@dataclass(frozen=True)
class AttackSpec:
    """A named attack with fixed parameters (benchmarks) — `apply` runs it."""

    name: str
    function: Callable[..., torch.Tensor]
    params: dict

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        return self.function(frames, **self.params)


ATTACKS: dict[str, Callable[..., torch.Tensor]] = {
    "h264": lambda frames, **kw: video_codec(frames, codec="libx264", **kw),
    "h265": lambda frames, **kw: video_codec(frames, codec="libx265", **kw),
    "jpeg": jpeg,
    "resize": resize,
    "crop": crop,
    "rotate": rotate,
    "blur": blur,
    "brightness": brightness,
    "contrast": contrast,
    "saturation": saturation,
    "noise": noise,
}


def sample_training_attack(rng: np.random.Generator) -> list[AttackSpec]:
    """A random chain of 0-3 attacks with random strengths, covering the ranges of the benchmark."""
    choices = [
        lambda: AttackSpec("h264", ATTACKS["h264"], {"crf": int(rng.integers(20, 37))}),
        lambda: AttackSpec("jpeg", jpeg, {"quality": int(rng.integers(35, 95))}),
        lambda: AttackSpec("resize", resize, {"scale": float(rng.uniform(0.45, 1.5))}),
        lambda: AttackSpec(
            "crop", crop, {"fraction": float(rng.uniform(0.6, 1.0)), "center": tuple(rng.uniform(0.35, 0.65, 2))}
        ),
        lambda: AttackSpec("rotate", rotate, {"degrees": float(rng.uniform(-6, 6))}),
        lambda: AttackSpec("blur", blur, {"sigma": float(rng.uniform(0.3, 1.6))}),
        lambda: AttackSpec("brightness", brightness, {"factor": float(rng.uniform(0.65, 1.35))}),
        lambda: AttackSpec("contrast", contrast, {"factor": float(rng.uniform(0.65, 1.35))}),
        lambda: AttackSpec("saturation", saturation, {"factor": float(rng.uniform(0.5, 1.5))}),
        lambda: AttackSpec("noise", noise, {"std": float(rng.uniform(0.005, 0.04))}),
    ]
    count = int(rng.choice([0, 1, 1, 2, 2, 3]))
    chain = [choices[int(i)]() for i in rng.choice(len(choices), size=count, replace=False)]
    # A codec most often comes last, as on a platform.
    return sorted(chain, key=lambda spec: spec.name in ("h264", "jpeg"))
