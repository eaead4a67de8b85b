"""Image loading with decompression-bomb and format guards."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from media.atomic import atomic_destination
from media.errors import ImageTooLargeError, UnreadableMediaError, UnsupportedFormatError

SUPPORTED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds checked from the header, before any pixel is decoded."""

    max_pixels: int = 40_000_000
    max_side: int = 12_000
    min_side: int = 16


def load_image(source: str | Path | bytes, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Load a PNG, JPEG or WebP image as RGB.

    Args:
        source: a path or the encoded bytes.
        limits: size bounds; an image outside them is rejected before decoding.

    Returns:
        (H, W, 3) uint8 RGB, EXIF orientation applied, alpha composited on white.
    """
    name = str(source) if not isinstance(source, bytes) else "<uploaded image>"
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            # Our own header check below is stricter than PIL's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
            image_format = image.format
            width, height = image.size
            if image_format not in SUPPORTED_IMAGE_FORMATS:
                raise UnsupportedFormatError(
                    f"{name}: unsupported image format {image_format!r} (use PNG, JPEG or WebP)"
                )
            _check_size(name, width, height, limits)
            image.load()
    except (UnsupportedFormatError, ImageTooLargeError):
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{name}: image is above the size limit ({err})") from err
    except FileNotFoundError as err:
        raise UnreadableMediaError(f"{name}: file not found") from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise UnreadableMediaError(f"{name}: not a readable image ({err})") from err
    image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def _check_size(name: str, width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height}, above the limit of {limits.max_side} px per side "
            f"and {limits.max_pixels} pixels"
        )
    if min(width, height) < limits.min_side:
        raise ImageTooLargeError(f"{name}: image is {width}x{height}, below {limits.min_side} px per side")


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def save_image(path: str | Path, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB to PNG/JPEG/WebP chosen by the file extension; the file appears whole
    or not at all (media.atomic)."""
    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise UnsupportedFormatError(f"{path}: cannot write images with the extension {path.suffix!r}")
    with atomic_destination(path) as partial:
        Image.fromarray(image).save(partial, format=image_format)
