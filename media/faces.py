"""Face detection (OpenCV Haar cascades, frontal + profile) and square face crops.

Haar cascades are the detector because they ship inside opencv-python-headless 4.x: no weights to
download, and fast enough on a 2-core CPU. For video, detections are associated over time and the
crop box is low-pass filtered so crops do not jitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from media.errors import NoFaceFoundError


@dataclass(frozen=True)
class FaceBox:
    """Axis-aligned face box in pixels of the image it was found in."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2

    @property
    def area(self) -> float:
        return self.width * self.height

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.width, self.height], dtype=np.float64)


@dataclass(frozen=True)
class CropBox:
    """Square crop region: centre and side length in source pixels (may extend past the image)."""

    center_x: float
    center_y: float
    side: float

    def as_array(self) -> np.ndarray:
        return np.array([self.center_x, self.center_y, self.side], dtype=np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> CropBox:
        return cls(float(values[0]), float(values[1]), float(values[2]))


@dataclass(frozen=True)
class CropConfig:
    """How a face box becomes a square crop.

    scale: crop side / face box side; Haar boxes cover brows to chin, 1.9 keeps hair and chin.
    shift_y: vertical shift of the centre in face heights (negative = up, towards the hair).
    """

    scale: float = 1.9
    shift_y: float = -0.08


@dataclass(frozen=True)
class DetectorConfig:
    """Haar cascade settings. `detect_side` bounds the side of the image the cascade scans."""

    detect_side: int = 480
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_fraction: float = 0.06
    use_profile: bool = True
    # Haar cascades miss faces tilted by more than ~15 degrees (common in artistic portraits); when a
    # single image has no upright face, it is searched again rotated by these angles (degrees).
    tilt_angles: tuple[float, ...] = (15.0, -15.0, 30.0, -30.0)


class FaceDetector:
    """Largest-face detector over frontal and left/right profile cascades."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        self.config = config
        root = Path(cv2.data.haarcascades)
        self._frontal = _load_cascade(root / "haarcascade_frontalface_default.xml")
        self._profile = _load_cascade(root / "haarcascade_profileface.xml") if config.use_profile else None

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """All faces in an (H, W, 3) uint8 RGB image, largest first, in image pixels."""
        gray, scale = self._prepare(image)
        min_side = max(16, int(self.config.min_face_fraction * min(gray.shape)))
        boxes = self._run(self._frontal, gray, min_side)
        if not boxes and self._profile is not None:
            boxes = self._run(self._profile, gray, min_side)
            # The profile cascade only knows one side: mirror the image for the other.
            width = gray.shape[1]
            mirrored = self._run(self._profile, np.ascontiguousarray(gray[:, ::-1]), min_side)
            boxes += [(width - x - w, y, w, h) for x, y, w, h in mirrored]
        faces = [FaceBox(x / scale, y / scale, w / scale, h / scale) for x, y, w, h in boxes]
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def largest(self, image: np.ndarray, *, source: str = "image") -> FaceBox:
        """The largest face, or NoFaceFoundError naming `source`. A tilted face is found too (see
        DetectorConfig.tilt_angles); its box is the upright box of the same size around its centre."""
        faces = self.detect(image) or self._detect_tilted(image)
        if not faces:
            raise NoFaceFoundError(f"{source}: no face found")
        return faces[0]

    def _detect_tilted(self, image: np.ndarray) -> list[FaceBox]:
        """Faces found in rotations of `image`, mapped back to it, largest first. Every angle is
        tried: a rotation that makes the tilt worse can still yield a small false detection, while
        the one that straightens the face finds it larger."""
        height, width = image.shape[:2]
        boxes = []
        for angle in self.config.tilt_angles:
            rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
            rotated = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
            back = cv2.invertAffineTransform(rotation)
            for face in self.detect(rotated):
                center_x, center_y = back @ np.array([*face.center, 1.0])
                boxes.append(FaceBox(center_x - face.width / 2, center_y - face.height / 2, face.width, face.height))
        return sorted(boxes, key=lambda face: face.area, reverse=True)

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        if image.ndim == 2:
            gray = image
        else:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.config.detect_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return cv2.equalizeHist(gray), scale

    def _run(self, cascade: cv2.CascadeClassifier, gray: np.ndarray, min_side: int) -> list[tuple]:
        found = cascade.detectMultiScale(
            gray,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(min_side, min_side),
        )
        return [tuple(float(v) for v in box) for box in found]


def _load_cascade(path: Path) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV Haar cascade missing at {path}: install opencv-python-headless<5")
    return cascade


def crop_box_for(face: FaceBox, config: CropConfig) -> CropBox:
    """The square crop region around a detected face."""
    center_x, center_y = face.center
    side = max(face.width, face.height) * config.scale
    return CropBox(center_x, center_y + config.shift_y * face.height, side)


def crop(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut the square `box` out of an (H, W, 3) image and resize it to (size, size, 3).

    Parts outside the image repeat the border pixels, so a face near an edge still yields a full crop.
    """
    scale = size / box.side
    # Affine map from source pixels to crop pixels; one warp does cut, pad and resize at once.
    matrix = np.array(
        [
            [scale, 0.0, size / 2 - scale * box.center_x],
            [0.0, scale, size / 2 - scale * box.center_y],
        ]
    )
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def crop_face(
    image: np.ndarray,
    *,
    size: int = 256,
    detector: FaceDetector | None = None,
    config: CropConfig = CropConfig(),
    source: str = "image",
) -> tuple[np.ndarray, CropBox]:
    """Detect the largest face and return its square crop ((size, size, 3) uint8) and the crop box."""
    detector = detector or FaceDetector()
    box = crop_box_for(detector.largest(image, source=source), config)
    return crop(image, box, size), box


@dataclass(frozen=True)
class TrackConfig:
    """Association of per-frame face boxes into tracklets, and smoothing of the crop.

    smoothing_seconds: Gaussian sigma of the low-pass on centre and side. About half a second keeps
    real head motion inside the crop while removing detector jitter.
    max_jump: a detection farther than this (in face sizes) from a tracklet belongs to another one.
    max_gap_seconds: a tracklet missing for longer ends (a shot cut or the person leaving).
    """

    smoothing_seconds: float = 0.5
    max_jump: float = 0.6
    max_gap_seconds: float = 1.0


@dataclass
class Tracklet:
    """One face followed through consecutive frames: boxes (T, 4) [x, y, w, h] over the whole
    sequence, NaN outside the tracklet and where it was missed."""

    boxes: np.ndarray
    start: int
    end: int  # exclusive
    hits: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def face_fraction(self) -> float:
        return self.hits / max(self.length, 1)


def find_tracklets(detections: list[list[FaceBox]], fps: float, config: TrackConfig = TrackConfig()) -> list[Tracklet]:
    """Split per-frame detections into tracklets, longest (most detections) first.

    Each detection (largest first) extends the nearest open tracklet within `max_jump` face sizes,
    or opens a new one; a tracklet closes after `max_gap_seconds` without a detection.
    """
    n_frames = len(detections)
    max_gap = max(1, int(round(config.max_gap_seconds * fps)))
    tracklets: list[Tracklet] = []
    open_tracklets: list[Tracklet] = []
    for index, faces in enumerate(detections):
        open_tracklets = [t for t in open_tracklets if index - t.end < max_gap]
        extended: set[int] = set()
        for face in faces:
            best, best_distance = None, np.inf
            for tracklet in open_tracklets:
                if id(tracklet) in extended:
                    continue
                last = FaceBox(*tracklet.boxes[tracklet.end - 1])
                distance = _distance(face, last)
                if distance <= config.max_jump * max(last.width, last.height) and distance < best_distance:
                    best, best_distance = tracklet, distance
            if best is None:
                best = Tracklet(np.full((n_frames, 4), np.nan), start=index, end=index)
                tracklets.append(best)
                open_tracklets.append(best)
            best.boxes[index] = face.as_array()
            best.end = index + 1
            best.hits += 1
            extended.add(id(best))
    return sorted(tracklets, key=lambda t: t.hits, reverse=True)


def _distance(a: FaceBox, b: FaceBox) -> float:
    (ax, ay), (bx, by) = a.center, b.center
    return float(np.hypot(ax - bx, ay - by) + abs(a.width - b.width))


def smooth_crop_boxes(
    track: np.ndarray,
    fps: float,
    crop_config: CropConfig,
    track_config: TrackConfig = TrackConfig(),
) -> np.ndarray:
    """Per-frame square crop boxes (T, 3) [centre_x, centre_y, side] from a (T, 4) track with NaN gaps.

    Gaps are filled by linear interpolation (held constant at the ends), then centre and side are
    low-pass filtered.
    """
    found = ~np.isnan(track[:, 0])
    if not found.any():
        raise NoFaceFoundError("no face found in any frame")
    frames = np.arange(len(track))
    boxes = np.stack([crop_box_for(FaceBox(*row), crop_config).as_array() for row in track[found]])
    filled = np.stack([np.interp(frames, frames[found], boxes[:, k]) for k in range(3)], axis=1)
    sigma = max(track_config.smoothing_seconds * fps, 1e-3)
    return gaussian_filter1d(filled, sigma=sigma, axis=0, mode="nearest")
