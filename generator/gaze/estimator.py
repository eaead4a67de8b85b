"""Gaze direction of face crops: head yaw/pitch from the face latent space plus the eye rotation that
the trained gaze network reads from the eye region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generator.gaze.eyes import EyeFinder
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from media.weights import load_weights, read_card

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "gaze" / "default.safetensors"
# The eyeball is modelled as a sphere of radius one third of the Haar eye box (1.5 half-widths^-1), so
# an iris offset o (in half-widths) is a rotation of arcsin(1.5 o).
EYE_BOX_PER_RADIUS = 1.5


class GazeEstimator:
    """Gaze direction (radians, + right / + up in the image) of (T, S, S, 3) uint8 face crops."""

    def __init__(self, network: EyeGazeNet, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.network = network.eval().to(self.device)
        self.eyes = EyeFinder()

    @classmethod
    def from_pretrained(cls, path: Path | None = None, device: str | torch.device = "cpu") -> GazeEstimator:
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        network = EyeGazeNet(GazeNetConfig(**read_card(path)["config"]))
        load_weights(network, path)
        return cls(network, device)

    @torch.inference_mode()
    def iris_offsets(self, frames: np.ndarray) -> np.ndarray:
        """(T, 2) iris offset from the eye-box centre (x right, y down, half-widths), mean of both eyes;
        NaN where two eyes are not found."""
        offsets = np.full((len(frames), 2), np.nan, dtype=np.float32)
        found, patches = [], []
        for index, frame in enumerate(frames):
            pair = self.eyes.patches(frame)
            if pair is not None:
                found.append(index)
                patches.append(pair)
        if found:
            batch = torch.from_numpy(np.concatenate(patches)[:, None]).to(self.device)
            predicted = self.network(batch).cpu().numpy().reshape(len(found), 2, 2).mean(1)
            offsets[found] = predicted
        return offsets

    def estimate(self, frames: np.ndarray, head_yaw_pitch: np.ndarray) -> np.ndarray:
        """(T, 2) gaze (theta, phi) in radians: head direction plus eye rotation.

        Frames where the eyes are not found take the eye rotation interpolated from their neighbours
        (0 when no frame of the sequence has both eyes found)."""
        offsets = self.iris_offsets(frames)
        found = np.flatnonzero(~np.isnan(offsets[:, 0]))
        eye_rotation = np.zeros((len(frames), 2), dtype=np.float32)
        if len(found):
            # Image y points down; gaze phi points up.
            angles = np.arcsin(np.clip(EYE_BOX_PER_RADIUS * offsets[found] * [1.0, -1.0], -1, 1))
            for axis in range(2):
                eye_rotation[:, axis] = np.interp(np.arange(len(frames)), found, angles[:, axis])
        return np.asarray(head_yaw_pitch, dtype=np.float32) + eye_rotation
