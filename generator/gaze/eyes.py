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

    def boxes_and_patches(
        self, frame: np.ndarray, near: np.ndarray | None = None
    ) -> tuple[list[tuple[int, int, int, int]], np.ndarray] | None:
        """The two eye boxes and their normalised patches (see `boxes`, `patches`), or None.

        `near`: (2, 4) boxes where the eyes are expected (e.g. the previous frame's); the search then
        covers only their rows (half a box height of margin) and box sizes 0.7-1.4x theirs (a head 25 %
        nearer or farther), about a third of the cost of a full search, which it falls back on when it
        finds no pair there."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        boxes = self._boxes_near(gray, near) if near is not None else None
        boxes = boxes or self._boxes(gray)
        if boxes is None:
            return None
        return boxes, cut_patches(gray, boxes)

    def _boxes(self, gray: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        upper = gray[: int(gray.shape[0] * UPPER_FACE)]
        minimum = max(6, gray.shape[0] // 14)
        return _two_largest(self.cascade.detectMultiScale(upper, 1.1, 3, minSize=(minimum, minimum)))

    def _boxes_near(self, gray: np.ndarray, near: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        size = float(np.mean(near[:, 2:]))
        top = max(int(near[:, 1].min() - size / 2), 0)
        bottom = min(int((near[:, 1] + near[:, 3]).max() + size / 2), gray.shape[0])
        smallest, largest = max(6, int(0.7 * size)), int(1.4 * size) + 1
        found = self.cascade.detectMultiScale(
            gray[top:bottom], 1.1, 3, minSize=(smallest, smallest), maxSize=(largest, largest)
        )
        boxes = _two_largest(found)
        return None if boxes is None else [(x, y + top, w, h) for x, y, w, h in boxes]


def cut_patches(gray: np.ndarray, boxes) -> np.ndarray:
    """(2, PATCH_SIZE, PATCH_SIZE) normalised patches of a grey frame at eye boxes (x, y, w, h)."""
    crops = [gray[max(y, 0) : y + h, max(x, 0) : x + w] for x, y, w, h in boxes]
    return np.stack([normalise(cv2.resize(crop, (PATCH_SIZE, PATCH_SIZE))) for crop in crops])


def _two_largest(found) -> list[tuple[int, int, int, int]] | None:
    """The two largest of Haar's boxes (the eyes), left to right; None when fewer than two."""
    if len(found) < 2:
        return None
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
