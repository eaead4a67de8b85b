"""Training frames for the watermark: random square crops of real video frames and portraits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from media.errors import MediaError
from media.image import load_image
from media.video import VIDEO_EXTENSIONS, iter_frames, probe_video

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def _random_square(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    side = int(min(height, width) * rng.uniform(0.5, 1.0))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return cv2.resize(image[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)


def build_frame_bank(
    sources: list[Path],
    *,
    size: int = 256,
    frames_per_video: int = 24,
    crops_per_image: int = 2,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(N, size, size, 3) uint8 crops from every video and image under `sources` (folders or files)."""
    rng = np.random.default_rng(seed)
    files = sorted(
        path
        for source in sources
        for path in ([Path(source)] if Path(source).is_file() else Path(source).rglob("*"))
        if path.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS
    )
    bank: list[np.ndarray] = []
    for index, path in enumerate(files):
        try:
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                image = load_image(path)
                bank += [_random_square(image, size, rng) for _ in range(crops_per_image)]
            else:
                info = probe_video(path)
                total = max(int(info.duration * info.fps), 1)
                wanted = set(rng.choice(total, size=min(frames_per_video, total), replace=False).tolist())
                for frame_index, (_, frame) in enumerate(iter_frames(path)):
                    if frame_index in wanted:
                        bank.append(_random_square(frame, size, rng))
        except MediaError:
            continue
        if progress:
            progress(index + 1, len(files))
    if not bank:
        raise MediaError(f"no usable video or image under {', '.join(map(str, sources))}")
    return np.stack(bank)
