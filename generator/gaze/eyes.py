"""Eye patches of face crops (OpenCV's Haar eye cascade) for the gaze network.

A patch is the whole Haar eye box, grey, resized to PATCH_SIZE and normalised to zero mean and unit
variance (so the network sees shape, not the lighting). Offsets are measured in half-widths of that
box: its normalised image coordinates, x to the right and y down, from -1 to 1.
"""

from __future__ import annotations

import cv2
import numpy as np

PATCH_SIZE = 32
# Haar eye boxes cover the brow; the eyes sit in the top ~60 % of a face crop.
UPPER_FACE = 0.62


class EyeFinder:
    def __init__(self) -> None:
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
        if self.cascade.empty():
            raise RuntimeError("OpenCV's Haar eye cascade is missing (install opencv-python-headless<5)")

    def boxes(self, frame: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        """The two eye boxes (x, y, w, h) of an (S, S, 3) uint8 RGB face crop, left to right in the
        image, or None when two eyes are not found."""
        return self._boxes(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))

    def patches(self, frame: np.ndarray) -> np.ndarray | None:
        """(2, PATCH_SIZE, PATCH_SIZE) float32 normalised eye patches, or None."""
        found = self.boxes_and_patches(frame)
        return None if found is None else found[1]

    def boxes_and_patches(self, frame: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray] | None:
        """The two eye boxes and their normalised patches (see `boxes`, `patches`), or None."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        boxes = self._boxes(gray)
        if boxes is None:
            return None
        patches = [normalise(cv2.resize(gray[y : y + h, x : x + w], (PATCH_SIZE, PATCH_SIZE))) for x, y, w, h in boxes]
        return boxes, np.stack(patches)

    def _boxes(self, gray: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        upper = gray[: int(gray.shape[0] * UPPER_FACE)]
        minimum = max(6, gray.shape[0] // 14)
        found = self.cascade.detectMultiScale(upper, 1.1, 3, minSize=(minimum, minimum))
        if len(found) < 2:
            return None
        # The two largest boxes are the eyes.
        largest = sorted((tuple(int(v) for v in box) for box in found), key=lambda b: -b[2] * b[3])[:2]
        return sorted(largest)


def normalise(patch: np.ndarray) -> np.ndarray:
    patch = patch.astype(np.float32)
    return (patch - patch.mean()) / (patch.std() + 1e-3)


def dark_centre(patch: np.ndarray, percentile: float = 15.0) -> np.ndarray:
    """(2,) normalised (x, y) centroid of the darkest pixels of the inner eye box: a rough iris
    position, used only to place synthetic iris shifts in training (the network learns the rest)."""
    size = patch.shape[-1]
    # Inner part of the box: Haar eye boxes include brow and lids.
    x0, x1, y0, y1 = size // 6, size - size // 6, size // 3, size - size // 5
    inner = patch[y0:y1, x0:x1]
    ys, xs = np.nonzero(inner <= np.percentile(inner, percentile))
    return np.array([(xs.mean() + x0 + 0.5) / size * 2 - 1, (ys.mean() + y0 + 0.5) / size * 2 - 1], np.float32)
