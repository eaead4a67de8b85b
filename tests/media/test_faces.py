from __future__ import annotations

import numpy as np
import pytest

from media.errors import NoFaceFoundError
from media.faces import (
    CropConfig,
    FaceBox,
    FaceDetector,
    TrackConfig,
    crop_face,
    find_tracklets,
    smooth_crop_boxes,
)


def test_face_crop_on_real_photo(portrait):
    crop, box = crop_face(portrait, size=128)
    assert crop.shape == (128, 128, 3)
    # The astronaut's face is in the upper middle of the photo (about x 180-270, y 65-160).
    assert 190 < box.center_x < 260 and 70 < box.center_y < 150
    assert 120 < box.side < 260


def test_no_face_names_the_source():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    with pytest.raises(NoFaceFoundError, match="landscape.png: no face found"):
        crop_face(noise, source="landscape.png")


@pytest.mark.parametrize("angle", [25.0, -25.0])
def test_tilted_face_is_found_where_it_is(portrait, angle):
    import cv2

    height, width = portrait.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    tilted = cv2.warpAffine(portrait, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
    detector = FaceDetector()
    assert detector.detect(tilted) == []  # upright cascades alone miss it
    face = detector.largest(tilted)
    # The astronaut's face centre (about 224, 113), rotated with the photo.
    expected = rotation @ np.array([224.0, 113.0, 1.0])
    assert np.hypot(*(np.array(face.center) - expected)) < 30
    assert 60 < face.width < 160


def test_largest_of_two_faces_is_chosen(portrait):
    import cv2

    small = cv2.resize(portrait, (320, 320))
    canvas = np.full((540, 880, 3), 200, np.uint8)
    canvas[10:522, 360:872] = portrait
    canvas[200:520, 10:330] = small
    faces = FaceDetector().detect(canvas)
    assert len(faces) >= 2
    assert faces[0].x > 360 and faces[0].area > faces[1].area


def test_crop_near_border_is_full_size(portrait):
    from media.faces import CropBox, crop

    out = crop(portrait, CropBox(10, 10, 200), 64)
    assert out.shape == (64, 64, 3)


def test_tracklets_split_at_cuts_and_follow_one_face():
    a = FaceBox(100, 100, 50, 50)
    b = FaceBox(400, 100, 60, 60)
    detections = [[a]] * 20 + [[]] * 3 + [[a]] * 10 + [[b]] * 40
    tracklets = find_tracklets(detections, fps=25, config=TrackConfig(max_gap_seconds=0.5))
    assert tracklets[0].start == 33 and tracklets[0].end == 73  # the longest: face b
    assert tracklets[1].start == 0 and tracklets[1].end == 33  # face a, bridged over a 3-frame gap
    assert tracklets[1].hits == 30


def test_smoothed_crop_boxes_fill_gaps_and_remove_jitter():
    rng = np.random.default_rng(0)
    track = np.tile([100.0, 100.0, 50.0, 50.0], (100, 1))
    track[:, :2] += rng.normal(0, 3, (100, 2))
    track[40:45] = np.nan
    boxes = smooth_crop_boxes(track, fps=25, crop_config=CropConfig())
    assert boxes.shape == (100, 3) and not np.isnan(boxes).any()
    assert np.std(np.diff(boxes[:, 0])) < 0.3 * np.std(np.diff(track[~np.isnan(track[:, 0]), 0]))
