"""Configuration of the face latent space: one architecture, three sizes (tiny, base, full)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PresetName = Literal["tiny", "base", "full"]


@dataclass(frozen=True)
class VolumeConfig:
    """Canonical 3D appearance volume V_app: (channels, depth, side, side)."""

    channels: int = 16
    depth: int = 8
    side: int = 32


@dataclass(frozen=True)
class FaceModelConfig:
    """Sizes of the encoders, the warping field and the renderer.

    image_size: side of the square face crop (128, 256 or 512).
    width: base channel count of the 2D convolutions; the encoders double it at each downsampling.
    global_input_size: the identity and motion encoders read the crop resized to this side; global
    codes need no full-resolution detail, and this keeps them cheap.
    id_dim / dyn_dim: sizes of z_id and z_dyn; z_pose is always 6 (yaw, pitch, roll, tx, ty, log-scale).
    flow_side / flow_depth: resolution at which the dynamics deformation is predicted before trilinear
    upsampling to the volume (a coarse field keeps deformations smooth).
    renderer_width: channels of the renderer at the volume resolution (halved at each upsampling).
    max_flow: bound of the deformation, in normalised volume coordinates ([-1, 1]).
    """

    image_size: int = 128
    width: int = 16
    global_input_size: int = 64
    volume: VolumeConfig = VolumeConfig()
    id_dim: int = 128
    dyn_dim: int = 64
    flow_side: int = 8
    flow_depth: int = 4
    flow_width: int = 32
    max_flow: float = 0.25
    renderer_width: int = 64
    renderer_blocks: int = 3
    volume_blocks: int = 1

    @property
    def pose_dim(self) -> int:
        return 6

    @property
    def encoder_downsamples(self) -> int:
        """Stride-2 stages from the image to the volume side."""
        steps, side = 0, self.image_size
        while side > self.volume.side:
            side //= 2
            steps += 1
        return steps


PRESETS: dict[str, FaceModelConfig] = {
    # Trains on 2 CPU cores in under an hour; tests and CPU demos.
    "tiny": FaceModelConfig(),
    "base": FaceModelConfig(
        image_size=256,
        width=32,
        global_input_size=128,
        volume=VolumeConfig(channels=32, depth=16, side=64),
        id_dim=256,
        dyn_dim=128,
        flow_side=16,
        flow_depth=8,
        flow_width=48,
        renderer_width=128,
        renderer_blocks=4,
        volume_blocks=2,
    ),
    # Sized like MegaPortraits / VASA-1 (96 x 16 x 64 x 64 volume, 512 px); GPU only.
    "full": FaceModelConfig(
        image_size=512,
        width=64,
        global_input_size=256,
        volume=VolumeConfig(channels=96, depth=16, side=64),
        id_dim=512,
        dyn_dim=256,
        flow_side=16,
        flow_depth=8,
        flow_width=64,
        renderer_width=256,
        renderer_blocks=6,
        volume_blocks=3,
    ),
}


def face_preset(name: str) -> FaceModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown face preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
