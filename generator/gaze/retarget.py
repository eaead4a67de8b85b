"""Eye retargeting: turn the eyes of rendered frames toward a requested gaze direction.

The `tiny` face renderer copies the portrait's eyes almost unchanged (the bench's eye-gaze round trip:
a driver's iris shift comes back at a fifth of its size), so a gaze control given to the motion model
alone does not show on the frames. Like LivePortrait's eye retargeting, a separate stage therefore
places the irises: the gaze network reads where the portrait's eyes point, and every rendered frame's
irises are moved by the difference to the requested direction, with the same Gaussian-bump warp the
gaze network was trained on (generator/gaze/warp.py), at the eyes Haar finds in that frame.

Only the eyes turn here; the head's share of a gaze is the motion model's (it is conditioned on the
same control). Eye rotation is limited to +-MAX_EYE_DEGREES: beyond it the warp would fold the eye.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from generator.gaze.estimator import DEFAULT_WEIGHTS, EYE_BOX_PER_RADIUS
from generator.gaze.eyes import EyeFinder, cut_patches, dark_centre
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from generator.gaze.redirect import EyeLayout, redirect_gaze
from generator.gaze.warp import WARP_SIGMA
from media.frames import to_uint8
from media.weights import load_weights, read_card

log = logging.getLogger(__name__)

# An iris shift of 0.3 half-widths (~27 deg) stays below the warp's radius, so the warp does not fold.
MAX_EYE_DEGREES = 25.0
assert math.sin(math.radians(MAX_EYE_DEGREES)) / EYE_BOX_PER_RADIUS < WARP_SIGMA
# A full Haar search costs ~18 ms per 256 px frame, nearly half the 40 ms a frame may take at 25 fps;
# eyes move little in four frames, so they are found every fourth frame and interpolated between.
DETECT_EVERY = 4
# Haar misses most eyes of a 128 px crop (they are near its smallest box); smaller frames are upsampled
# to this side for the search.
DETECT_SIDE = 256


@dataclass(frozen=True)
class EyeTarget:
    """What retargeting does to every frame of one generation: the iris `shift` (2,) in eye-box
    half-widths (x right, y down), and the portrait's eye boxes (2, 4) as fractions of the crop's side
    (x, y, w, h) — used for frames where Haar finds no eyes — or None when the portrait's were not found."""

    shift: np.ndarray
    portrait_boxes: np.ndarray | None


class EyeRetargeter:
    def __init__(self, network: EyeGazeNet) -> None:
        self.network = network.eval()
        self.finder = EyeFinder()

    @classmethod
    def from_pretrained(cls, path: Path | None = None) -> EyeRetargeter:
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        network = EyeGazeNet(GazeNetConfig(**read_card(path)["config"]))
        load_weights(network, path)
        return cls(network)

    @torch.inference_mode()
    def target(self, portrait_crop: np.ndarray, gaze_degrees: tuple[float, float]) -> EyeTarget:
        """The shift that turns the portrait's eyes to `gaze_degrees` (theta right, phi up; each eye's
        rotation clipped to +-MAX_EYE_DEGREES). Haar is tried on the crop and, for small crops, on a 2x
        upsampling (eyes of a 128 px crop are near its minimum size)."""
        limit = math.radians(MAX_EYE_DEGREES)
        theta, phi = (min(max(math.radians(a), -limit), limit) for a in gaze_degrees)
        wanted = np.array([math.sin(theta), -math.sin(phi)], np.float32) / EYE_BOX_PER_RADIUS
        side = portrait_crop.shape[0]
        for scale in (1, 2):
            image = (
                portrait_crop
                if scale == 1
                else cv2.resize(portrait_crop, (side * 2, side * 2), interpolation=cv2.INTER_CUBIC)
            )
            eyes = self.finder.boxes_and_patches(image)
            if eyes is not None:
                boxes, patches = eyes
                reading = self.network(torch.from_numpy(patches[:, None].copy())).mean(0).numpy()
                return EyeTarget(wanted - reading, np.asarray(boxes, np.float32) / (side * scale))
        log.warning("no eyes found in the portrait: the gaze control turns only eyes found in the frames")
        return EyeTarget(wanted, None)

    def apply(self, frames: torch.Tensor, target: EyeTarget) -> torch.Tensor:
        """(B, 3, S, S) float frames in 0..1 with both irises moved by `target.shift`."""
        layout = self.track(frames, target)
        if layout is None:
            return frames
        shifts = torch.from_numpy(target.shift).to(frames).expand(len(frames), 2)
        # Only the eyes' surroundings move (3/4 of a box past a box's edge the warp has fallen below 1e-3
        # of the shift), so only that region is warped: about a third of the frame.
        x, y, w, h = layout.boxes.unbind(-1)
        left, right = int((x - 0.75 * w).min().clamp(min=0)), int((x + 1.75 * w).max()) + 1
        top, bottom = int((y - 0.75 * h).min().clamp(min=0)), int((y + 1.75 * h).max()) + 1
        local = EyeLayout(layout.boxes - layout.boxes.new_tensor([left, top, 0, 0]), layout.irises, layout.found)
        turned = frames.clone()
        turned[..., top:bottom, left:right] = redirect_gaze(frames[..., top:bottom, left:right], local, shifts)
        return turned

    def track(self, frames: torch.Tensor, target: EyeTarget) -> EyeLayout | None:
        """Eye boxes and irises of every frame: Haar on every DETECT_EVERY-th frame (searched near the
        portrait's eyes first), linearly interpolated between the frames where both eyes were found and
        held constant past the first and last of them (a streaming window of 12 frames is probed 3
        times); the portrait's boxes when no probed frame has them; None without either."""
        count = len(frames)
        probes = np.arange(0, count, DETECT_EVERY)
        side = frames.shape[-1]
        probe_frames = frames[torch.from_numpy(probes)]
        if side < DETECT_SIDE:
            probe_frames = F.interpolate(probe_frames, size=(DETECT_SIDE, DETECT_SIDE), mode="bicubic").clamp(0, 1)
        near = None if target.portrait_boxes is None else target.portrait_boxes * probe_frames.shape[-1]
        probed = EyeLayout.detect(probe_frames, self.finder, near)
        found = probed.found.cpu().numpy()
        if found.any():
            probed_boxes = probed.boxes.cpu().numpy() * (side / probe_frames.shape[-1])
            known = np.concatenate([probed_boxes, probed.irises.cpu().numpy()], -1)[found]
            known = known.reshape(int(found.sum()), -1)
            at = probes[found]
            every = np.arange(count)
            values = np.stack([np.interp(every, at, column) for column in known.T], -1).reshape(count, 2, 6)
            boxes, irises = values[..., :4], values[..., 4:]
        elif target.portrait_boxes is not None:
            boxes = np.broadcast_to(target.portrait_boxes * side, (count, 2, 4))
            irises = np.broadcast_to(self._dark_centres(frames[0], target.portrait_boxes), (count, 2, 2))
        else:
            return None
        device = frames.device
        return EyeLayout(
            torch.from_numpy(np.ascontiguousarray(boxes, np.float32)).to(device),
            torch.from_numpy(np.ascontiguousarray(irises, np.float32)).to(device),
            torch.ones(count, dtype=torch.bool, device=device),
        )

    def _dark_centres(self, frame: torch.Tensor, fractions: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(to_uint8(frame[None].cpu())[0], cv2.COLOR_RGB2GRAY)
        boxes = np.round(fractions * grey.shape[0]).astype(int)
        return np.stack([dark_centre(patch) for patch in cut_patches(grey, boxes)])
