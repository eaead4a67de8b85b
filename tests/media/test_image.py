from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from media.errors import ImageTooLargeError, UnreadableMediaError, UnsupportedFormatError
from media.image import ImageLimits, load_image, save_image


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_supported_formats_load_as_rgb(tmp_path, portrait, fmt):
    path = tmp_path / f"p.{fmt.lower()}"
    Image.fromarray(portrait).save(path, format=fmt)
    image = load_image(path)
    assert image.shape == portrait.shape and image.dtype == np.uint8


def test_rgba_and_grayscale_become_rgb(tmp_path):
    rgba = Image.new("RGBA", (40, 30), (10, 20, 30, 0))
    gray = Image.new("L", (40, 30), 128)
    for name, image in (("rgba.png", rgba), ("gray.png", gray)):
        image.save(tmp_path / name)
        assert load_image(tmp_path / name).shape == (30, 40, 3)


def test_decompression_bomb_rejected_before_decoding():
    # A 20000 x 20000 PNG of one colour compresses to a few hundred KB but would need 1.2 GB decoded.
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG")
    with pytest.raises(ImageTooLargeError, match="limit"):
        load_image(buffer.getvalue())


def test_absurdly_thin_image_rejected(tmp_path):
    Image.new("RGB", (4000, 4)).save(tmp_path / "thin.png")
    with pytest.raises(ImageTooLargeError):
        load_image(tmp_path / "thin.png", ImageLimits())


def test_unsupported_format(tmp_path):
    Image.new("RGB", (64, 64)).save(tmp_path / "x.gif")
    with pytest.raises(UnsupportedFormatError, match="GIF"):
        load_image(tmp_path / "x.gif")


def test_not_an_image(tmp_path):
    (tmp_path / "fake.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(UnreadableMediaError, match="fake.jpg"):
        load_image(tmp_path / "fake.jpg")


def test_saved_image_round_trips_and_an_unknown_extension_writes_nothing(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    save_image(tmp_path / "out.png", image)
    assert np.array_equal(load_image(tmp_path / "out.png"), image)
    with pytest.raises(UnsupportedFormatError, match="out.xyz"):
        save_image(tmp_path / "out.xyz", image)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.png"]
