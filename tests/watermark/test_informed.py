"""Informed embedding: every bit reaches its margin; a still face carries the ID through a light encode."""

from __future__ import annotations

import numpy as np
import torch

from media.faces import crop_face
from media.samples import sample_portrait
from media.video import transcode_frames
from watermark.inference import VideoWatermarker
from watermark.modules.carriers import initial_carriers
from watermark.modules.informed import carrier_gram, informed_correction, tile_correlations


def test_correction_lifts_every_bit_to_the_margin():
    torch.manual_seed(0)
    carriers = initial_carriers(24, 16)
    frame = torch.rand(2, 1, 64, 64) * 0.5 + 0.25
    bits = torch.randint(0, 2, (2, 24)).float()
    signs = bits * 2 - 1
    before = tile_correlations(frame, carriers) * signs
    gram_inverse = torch.linalg.inv(carrier_gram(carriers, 64))
    corrected = frame + informed_correction(frame, bits, carriers, gram_inverse, margin=0.01)
    after = tile_correlations(corrected, carriers) * signs
    assert (before < 0.01).any() and (after > 0.0099).all()
    # Bits already past the margin are left alone: no correction at all when every bit is.
    done = informed_correction(corrected, bits, carriers, gram_inverse, margin=0.005)
    assert done.abs().max() < 1e-6


def test_still_face_carries_the_id_through_a_light_encode():
    """A frozen frame is the hardest host (its interference never averages out)."""
    crop, _ = crop_face(sample_portrait(), size=128)
    frames = np.repeat(crop[None], 25, axis=0)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(frames, "a1b2c3d4e5f60718")
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - frames) ** 2))
    assert psnr > 38
    for video in (marked, transcode_frames(marked, crf=12)):
        report = watermarker.read_frames(video)
        assert report.detected and report.id == "a1b2c3d4e5f60718" and report.p_value < 1e-6
    unmarked = watermarker.read_frames(frames)
    assert not unmarked.detected and unmarked.id is None
