"""Informed embedding: every bit reaches its margin (per frame or per group); a still face carries the ID through
H.264 and H.265 at CRF 28 (channel-informed passes)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from media.faces import crop_face
from media.samples import animate_portrait, sample_portrait
from media.video import transcode_frames
from watermark.config import WatermarkModelConfig
from watermark.inference import VideoWatermarker, _LumaChannel, _with_luma_change
from watermark.models.watermarker import to_work_grid, work_grid_shape
from watermark.modules.carriers import initial_carriers
from watermark.modules.informed import (
    CarrierBand,
    carrier_gram,
    group_means,
    group_rows,
    informed_correction,
    tile_correlations,
)
from watermark.modules.jnd import luma
from watermark.payload import PayloadCodec
from watermark.spans import ClipStatistics, innermost, local_windows, span_windows


@pytest.mark.parametrize("border", [0, 3])
def test_correction_lifts_every_bit_to_the_margin(border):
    """Also when the reading leaves the frame's edge out of its fold: the Gram is the same reading's."""
    torch.manual_seed(0)
    band = CarrierBand(17)
    carriers = initial_carriers(24, 16)
    frame = torch.rand(2, 1, 64, 64) * 0.5 + 0.25
    bits = torch.randint(0, 2, (2, 24)).float()
    signs = bits * 2 - 1
    before = tile_correlations(frame, carriers, band, border) * signs
    gram_inverse = torch.linalg.inv(carrier_gram(carriers, 64, band, border))
    corrected = frame + informed_correction(
        tile_correlations(frame, carriers, band, border), bits, carriers, gram_inverse, 0.01, 64
    )
    after = tile_correlations(corrected, carriers, band, border) * signs
    assert (before < 0.01).any() and (after > 0.0099).all()
    # Bits already past the margin are left alone: no correction at all when every bit is.
    reading = tile_correlations(corrected, carriers, band, border)
    done = informed_correction(reading, bits, carriers, gram_inverse, 0.005, 64)
    assert done.abs().max() < 1e-6


def test_group_correction_brings_the_group_mean_to_the_margin():
    torch.manual_seed(1)
    band = CarrierBand(17)
    carriers = initial_carriers(24, 16)
    frames = torch.rand(6, 1, 64, 64) * 0.5 + 0.25
    bits = torch.randint(0, 2, (1, 24)).float().expand(6, -1)
    gram_inverse = torch.linalg.inv(carrier_gram(carriers, 64, band))
    measured = group_means(tile_correlations(frames, carriers, band), 3)
    assert torch.allclose(measured[0], measured[2]) and not torch.allclose(measured[0], measured[3])
    corrected = frames + informed_correction(measured, bits, carriers, gram_inverse, 0.01, 64)
    after = group_means(tile_correlations(corrected, carriers, band), 3) * (bits * 2 - 1)
    assert (after > 0.0099).all()
    # One static correction per group: the frames of a group get the same pattern.
    change = corrected - frames
    assert torch.allclose(change[0], change[2], atol=1e-6) and not torch.allclose(change[2], change[3], atol=1e-6)


@torch.no_grad()
def test_the_embedders_luma_change_is_one_pattern_per_group_made_on_the_work_grid():
    """Watermarker.luma_change iterates on the work grid (frames larger than the grid, a last group that is
    short): the same change as iterating on the frames themselves, one pattern per group, and every
    group's mean correlation on the reader's grid moved towards the margin."""
    model = VideoWatermarker.from_pretrained().model
    torch.manual_seed(2)
    host = torch.nn.functional.interpolate(torch.rand(7, 3, 12, 10), size=(192, 160), mode="bicubic")
    frames = (host * 0.5 + 0.25 + torch.rand(7, 1, 1, 1) * 0.05).clamp(0, 1)
    bits = torch.randint(0, 2, (1, model.config.n_bits)).float().expand(7, -1)
    margin = 1e-4
    change = model.luma_change(frames, bits, margin=margin, group=3)
    on_frames = torch.zeros_like(change)
    for _ in range(model.config.informed_iterations):
        on_frames += model.correction(luma(frames) + on_frames, bits, margin, group=3)
    assert torch.allclose(change, on_frames, atol=1e-6)
    assert torch.equal(change[0], change[2]) and torch.equal(change[3], change[5])
    assert not torch.allclose(change[2], change[3]) and not torch.allclose(change[5], change[6])

    def group_correlations(luma_frames: torch.Tensor) -> torch.Tensor:
        grid = to_work_grid(luma_frames, model.config.work_size)
        reading = tile_correlations(grid, model.extractor.carriers, model.extractor.band, model.config.fold_border)
        return group_rows(reading, 3) * (bits[:3] * 2 - 1)

    before, after = group_correlations(luma(frames)), group_correlations(luma(frames) + change)
    assert before.min() < 0 and after.min() > 0.5 * margin and after.mean() > 0.8 * margin


def test_still_face_carries_the_id_through_platform_encodes():
    """A frozen frame is the hardest host (its interference never averages out)."""
    crop, _ = crop_face(sample_portrait(), size=128)
    frames = np.repeat(crop[None], 25, axis=0)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(frames, "a1b2c3d4e5f60718")
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - frames) ** 2))
    assert psnr > 35
    encodes = (
        marked,
        transcode_frames(marked, crf=23),
        transcode_frames(marked, crf=28),
        transcode_frames(marked, codec="libx265", crf=28),
    )
    for video in encodes:
        report = watermarker.read_frames(video)
        assert report.detected and report.id == "a1b2c3d4e5f60718" and report.p_value < 1e-6
    unmarked = watermarker.read_frames(frames)
    assert not unmarked.detected and unmarked.id is None


def test_an_off_centre_crop_between_the_search_grid_points_reads():
    """A 78 % crop from (51, 37) at 256 px: half a pixel off the reader's 128 px grid on both axes, and
    a scale between the 5 %-spaced rescalings searched before (that search read it at p = 0.39)."""
    crop, _ = crop_face(sample_portrait(), size=256)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(np.repeat(crop[None], 10, axis=0), "a1b2c3d4e5f60718")
    report = watermarker.read_frames(marked[:, 51:251, 37:237])
    assert report.detected and report.id == "a1b2c3d4e5f60718"


def test_every_span_is_a_test_of_its_own():
    """A span's p-value counts the spans read (Bonferroni), and a short trailing remainder joins the
    span before it rather than making a weak reading of a few frames."""
    crop, _ = crop_face(sample_portrait(), size=128)
    watermarker = VideoWatermarker.from_pretrained()
    for frames, counts in ((51, [25, 26]), (63, [25, 25, 13]), (10, [10])):
        statistics = watermarker.statistics(np.repeat(crop[None], frames, axis=0), fps=25.0)
        assert statistics.frames.tolist() == counts and len(statistics.tiles) == len(counts)
    still = np.repeat(watermarker.embed(crop[None], "a1b2c3d4e5f60718"), 75, axis=0)
    report = watermarker.read_frames(still, fps=25.0)
    # Every span holds the same frames as the clip, so its evidence is the clip's, tested once for each
    # of the five runs read: the three spans, and two windows of two.
    assert span_windows(3) == [(0, 2), (1, 3)] and span_windows(2) == []
    assert span_windows(9) == [(first, first + 2) for first in range(8)] + [(0, 4), (2, 6), (4, 8)] + [(0, 8)]
    assert len(report.spans) == 3 and report.p_value < 1e-10
    for span in report.spans:
        assert span.p_value == pytest.approx(5 * report.p_value, rel=1e-9)
        assert span.detected and span.id == "a1b2c3d4e5f60718"


def test_a_marked_excerpt_among_unmarked_footage_is_found_in_its_spans():
    """A generated second spliced into other footage (a fake statement inserted into a real speech) reads
    in its own span; in a long video the clip's average dilutes it below detection, and the decision is
    that span's (the p-values count both decisions: twice the readings)."""
    crop, _ = crop_face(sample_portrait(), size=128)
    watermarker = VideoWatermarker.from_pretrained()
    footage = animate_portrait(crop, 200, size=128, seed=0)
    marked = watermarker.embed(animate_portrait(crop, 25, size=128, seed=1), "a1b2c3d4e5f60718")
    statistics = watermarker.statistics(np.concatenate([footage[:100], marked, footage[100:]]), fps=25.0)
    # The reader keeps one sum per second, not per frame.
    assert statistics.frames.tolist() == [25] * 9
    report = watermarker.decide(statistics)
    found = [span for span in report.spans if span.detected]
    assert [(span.start, span.end, span.id) for span in found] == [(4.0, 5.0, "a1b2c3d4e5f60718")]
    assert report.detected and report.id == "a1b2c3d4e5f60718"
    # The same second in the middle of two minutes of that footage, from the seconds' sums.
    unmarked = [0, 1, 2, 3, 5, 6, 7, 8]
    order = torch.tensor(unmarked * 7 + [4] + unmarked * 7)
    long_video = ClipStatistics(
        learned=statistics.learned[order],
        tiles=statistics.tiles[order],
        frames=statistics.frames[order],
        starts=[float(second) for second in range(len(order))],
        ends=[float(second + 1) for second in range(len(order))],
        bands=statistics.bands[order],
    )
    report = watermarker.decide(long_video)
    found = [span for span in report.spans if span.detected]
    assert [(span.start, span.id) for span in found] == [(56.0, "a1b2c3d4e5f60718")]
    assert report.detected and report.id == "a1b2c3d4e5f60718" and report.marked_seconds == [[56.0, 57.0]]
    assert report.p_value <= found[0].p_value
    # The whole video's average does not detect (read as a single span, it is the clip's reading alone).
    whole = ClipStatistics(
        learned=long_video.learned.sum(0, keepdim=True),
        tiles=long_video.tiles.sum(0, keepdim=True),
        frames=long_video.frames.sum(0, keepdim=True),
        starts=[0.0],
        ends=[float(len(order))],
    )
    assert not watermarker.decide(whole).detected


def test_a_reframed_excerpt_among_other_footage_is_found_at_its_own_alignment():
    """A generated clip zoomed to fill the frame (a 75 % crop brought back to full size) before it was
    spliced into other footage: the video's alignments are found on its average, where the excerpt is
    diluted, so it reads only where its runs of two seconds are searched on their own."""
    crop, _ = crop_face(sample_portrait(), size=192)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(animate_portrait(crop, 8, size=192, seed=1), "a1b2c3d4e5f60718")
    zoomed = np.stack([cv2.resize(frame[24:168, 24:168], (192, 192), interpolation=cv2.INTER_AREA) for frame in marked])
    footage = animate_portrait(crop, 24, size=192, seed=0)
    video = np.concatenate([footage[:16], zoomed, footage[16:]])
    report = watermarker.read_frames(video, fps=4.0)  # 8 spans of 4 frames; the excerpt at 4-6 s
    assert report.detected and report.id == "a1b2c3d4e5f60718" and report.marked_seconds == [[4.0, 6.0]]
    assert [span.detected for span in report.spans] == [False] * 4 + [True] * 2 + [False] * 2
    watermarker.model.config = replace(watermarker.model.config, local_search_peaks=0)
    assert not watermarker.read_frames(video, fps=4.0).detected


def test_runs_of_two_spans_are_searched_on_their_own_only_beside_the_clip():
    assert local_windows(2) == [] and local_windows(4) == [(0, 2), (1, 3), (2, 4)]
    assert set(local_windows(9)) <= set(span_windows(9))


def test_where_the_mark_reads_is_the_innermost_detecting_run():
    """A window that holds a detected second detects through it; it says nothing more about where the
    mark is."""
    assert innermost([(4, 5), (4, 6), (3, 5), (0, 8), (10, 12)]) == [(4, 5), (10, 12)]
    assert innermost([(2, 4), (0, 4), (2, 6)]) == [(2, 4)]
    assert innermost([]) == []


def test_spans_follow_presentation_times():
    """Frames go to the span of their time: a gap (a variable frame rate, a still held) leaves no empty
    span and does not shift the later ones."""
    crop, _ = crop_face(sample_portrait(), size=64)
    watermarker = VideoWatermarker.from_pretrained()
    times = [number / 25 for number in range(30)] + [3.0 + number / 25 for number in range(25)]
    statistics = watermarker.timed_statistics(((time, crop) for time in times), span_seconds=1.0)
    assert statistics.frames.tolist() == [25, 5, 25]
    assert statistics.starts == pytest.approx([0.0, 1.0, 3.0])
    assert statistics.ends == pytest.approx([1.0, 1.2, 4.0], abs=0.05)


def test_search_correction():
    """A reading that is strong evidence on its own is not strong evidence for the best of many."""
    codec = PayloadCodec()
    bits = codec.encode("00112233aabbccdd").astype(float) * 2 - 1
    noisy = bits * np.random.default_rng(0).permutation(np.arange(1.0, len(bits) + 1))
    noisy[np.argsort(np.abs(noisy))[:55]] *= -1  # the 55 least reliable bits wrong: p ~ 2e-9
    single = codec.decode(noisy)
    assert single.detected and single.id == "00112233aabbccdd"
    searched = codec.decode(noisy, trials=9216)
    assert searched.p_value == pytest.approx(9216 * single.p_value) and not searched.detected


def test_odd_sized_frames_go_through_the_channel_passes():
    """yuv420p cannot hold an odd row or column: the channel pass keeps it from the input."""
    rng = np.random.default_rng(0)
    frames = (rng.random((6, 99, 131, 3)) * 60 + 100).astype(np.uint8)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(frames, "0123456789abcdef")
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    report = watermarker.read_frames(marked)
    assert report.detected and report.id == "0123456789abcdef"


@pytest.mark.parametrize("height, width", [(64, 96), (63, 97)])
def test_the_luma_channel_sees_what_a_viewer_of_the_re_encoded_rgb_sees(height, width):
    """The channel passes change the Y plane alone and read the decoded Y. Against a viewer of the marked
    RGB frames after the same encode: the codec delivers the same share of the change, and the luma reads
    alike up to a uniform offset (swscale's conversion back to RGB reads about a level darker; the band
    subtracts a local mean, so the offset is not read). Pixel by pixel the two encodes differ as much as
    any two encodes of inputs a rounding apart do. Odd edges, which yuv420p cannot hold, read as sent."""
    rng = np.random.default_rng(0)

    def smooth(*shape: int) -> np.ndarray:
        return cv2.resize(rng.random(shape), (width, height), interpolation=cv2.INTER_CUBIC)

    def viewer_luma(frames: np.ndarray) -> np.ndarray:
        viewed = frames.copy()
        even = transcode_frames(frames, crf=18)
        viewed[:, : even.shape[1], : even.shape[2]] = even
        return viewed.astype(float) @ np.array([0.299, 0.587, 0.114]) / 255

    host = smooth(6, 8)
    frames = np.stack([np.stack([host * 120 + 60 + t, host * 100 + 70, host * 80 + 90], -1) for t in range(8)])
    frames = frames.astype(np.uint8)
    change = torch.from_numpy(np.stack([(smooth(4, 6) - 0.5) * 8 / 255 for _ in range(8)])[:, None]).float()
    marked = _with_luma_change(frames, change)
    assert np.array_equal(marked[..., 0].astype(int) - frames[..., 0], marked[..., 2].astype(int) - frames[..., 2])
    channel = _LumaChannel(frames, crf=18, preset="medium")
    observed = channel.observed_luma(change)
    assert observed.shape == (8, 1, height, width)
    observed, unmarked = observed[:, 0].numpy(), channel.observed_luma(torch.zeros_like(change))[:, 0].numpy()
    viewed, viewed_unmarked = viewer_luma(marked), viewer_luma(frames)
    assert abs((observed - viewed).mean()) * 255 < 1.5

    def delivered(after: np.ndarray, before: np.ndarray) -> float:
        sent = change[:, 0].numpy()
        return float(np.sum((after - before) * sent) / np.sum(sent * sent))

    assert delivered(observed, unmarked) == pytest.approx(delivered(viewed, viewed_unmarked), abs=0.05)
    assert delivered(observed, unmarked) > 0.8


def test_the_luma_change_is_added_exactly_in_whole_levels():
    frames = np.array([[[[0, 128, 255], [10, 20, 30]]]], dtype=np.uint8)
    change = torch.tensor([[[[2.4 / 255, -11.6 / 255]]]])
    assert _with_luma_change(frames, change).tolist() == [[[[2, 130, 255], [0, 8, 18]]]]


def test_a_smaller_band_box_rejects_more_of_a_smooth_host_and_keeps_the_carriers():
    torch.manual_seed(2)
    host = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 160, 160), 9, stride=1)[..., :128, :128]
    carriers = initial_carriers(191, 32)  # the committed payload's: the 382 lowest tile frequencies
    pattern = carriers[:1].repeat(1, 4, 4)[None]
    energy = {box: float(CarrierBand(box)(host).pow(2).mean()) for box in (5, 17)}
    kept = {box: float(CarrierBand(box)(pattern).pow(2).mean() / pattern.pow(2).mean()) for box in (5, 17)}
    assert energy[5] < 0.5 * energy[17]
    assert kept[5] > 0.8 and kept[17] > 0.8
    with pytest.raises(ValueError, match="odd"):
        CarrierBand(4)
    with pytest.raises(ValueError, match="range"):
        CarrierBand(5, -1.0)


def test_an_edge_preserving_band_keeps_edges_out_of_the_reading_and_the_watermark_in():
    """A host of flat regions with 40-level steps (a cartoon face's contours) and a 2-level watermark:
    the box band reads the edges, the bilateral band barely does, and both keep half or more of the watermark."""
    generator = torch.Generator().manual_seed(3)
    host = torch.full((1, 1, 128, 128), 0.4)
    for _ in range(12):
        top, left, height, width = torch.randint(0, 96, (4,), generator=generator).tolist()
        host[..., top : top + height, left : left + width] += 40 / 255 * (torch.rand(1, generator=generator) - 0.5)
    watermark = initial_carriers(191, 32)[:1].repeat(1, 4, 4)[None] * (2 / 255)
    box, bilateral = CarrierBand(5), CarrierBand(5, 3.0)
    host_energy = {band: float(band(host).pow(2).mean()) for band in (box, bilateral)}
    assert host_energy[bilateral] < 0.05 * host_energy[box]
    for band in (box, bilateral):
        signal = band(host + watermark) - band(host)
        assert float((signal * watermark).sum() / watermark.pow(2).sum()) > 0.45


def test_informed_correction_reaches_the_margin_through_the_bilateral_band():
    """The bilateral band is non-linear; the Gram at its probe amplitude is a good enough linearisation
    that the embedder's few correction passes still bring every bit to its margin."""
    torch.manual_seed(4)
    carriers = initial_carriers(24, 16)
    band = CarrierBand(5, 3.0)
    frame = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 72, 72), 9, stride=1) * 0.5 + 0.25
    bits = torch.randint(0, 2, (1, 24)).float()
    gram_inverse = torch.linalg.inv(carrier_gram(carriers, 64, band))
    margin = 2e-4
    corrected = frame
    for _ in range(4):
        measured = tile_correlations(corrected, carriers, band)
        corrected = corrected + informed_correction(measured, bits, carriers, gram_inverse, margin, 64)
    after = tile_correlations(corrected, carriers, band) * (bits * 2 - 1)
    assert (after > 0.95 * margin).all()


def test_the_bilateral_band_is_kornias_bilateral_blur():
    """The hand-written bilateral mean (kept for speed on the embedder's hot path) against the library's."""
    kornia = pytest.importorskip("kornia")
    luma = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 44, 44, generator=torch.Generator().manual_seed(5)), 3, 1)
    luma = luma + torch.rand(luma.shape, generator=torch.Generator().manual_seed(6)) * (8 / 255)
    for box, levels in ((5, 6.0), (3, 3.0)):
        expected = luma - kornia.filters.bilateral_blur(
            luma, box, levels / 255, (box / 2.5, box / 2.5), border_type="replicate", color_distance_type="l2"
        )
        assert torch.allclose(CarrierBand(box, levels)(luma), expected, atol=1e-5)


def test_the_work_grid_keeps_the_frames_aspect():
    assert work_grid_shape(256, 256, 128) == (128, 128)
    assert work_grid_shape(720, 1280, 128) == (128, 228)
    assert work_grid_shape(1920, 1080, 128) == (228, 128)
    assert work_grid_shape(60, 100, 128) == (128, 213)


def test_bars_and_a_crop_to_another_aspect_read():
    """What platforms do to fit a video to their frame: a square video letterboxed into 9:16 with black
    bars, a 16:9 video cropped to a square. With the carriers' grid keeping the frame's aspect, both are
    a shift for the reader (they were anisotropic stretches when every frame was squeezed square)."""
    watermarker = VideoWatermarker.from_pretrained()
    crop, _ = crop_face(sample_portrait(), size=192)
    square = watermarker.embed(np.repeat(crop[None], 8, axis=0), "a1b2c3d4e5f60718")
    letterboxed = np.zeros((8, 342, 192, 3), np.uint8)
    letterboxed[:, 75:267] = square
    report = watermarker.read_frames(letterboxed)
    assert report.detected and report.id == "a1b2c3d4e5f60718"
    wide_frame = cv2.resize(sample_portrait(), (342, 192), interpolation=cv2.INTER_AREA)
    wide = watermarker.embed(np.repeat(wide_frame[None], 8, axis=0), "0123456789abcdef")
    report = watermarker.read_frames(np.ascontiguousarray(wide[:, :, 75:267]))
    assert report.detected and report.id == "0123456789abcdef"


def test_a_wide_video_fitted_into_a_tall_frame_is_read_inside_its_bars():
    """A 16:9 video in a 9:16 frame: the frame's shorter side is the picture's longer one, which would
    shrink the pattern out of the searched scales; the reader finds the bars and reads inside them."""
    watermarker = VideoWatermarker.from_pretrained()
    wide_frame = cv2.resize(sample_portrait(), (342, 192), interpolation=cv2.INTER_AREA)
    wide = watermarker.embed(np.repeat(wide_frame[None], 8, axis=0), "0123456789abcdef")
    tall = np.zeros((8, 608, 342, 3), np.uint8)
    tall[:, 208:400] = wide
    report = watermarker.read_frames(transcode_frames(tall, crf=23))
    assert report.detected and report.id == "0123456789abcdef"
    # Marked as it stands, in its bars: the bars stay black and the picture reads the same way.
    tall[:, 208:400] = wide_frame
    marked = watermarker.embed(tall, "00112233aabbccdd")
    assert not marked[:, :208].any() and not marked[:, 400:].any()
    report = watermarker.read_frames(transcode_frames(marked, crf=23))
    assert report.detected and report.id == "00112233aabbccdd"
    # To its exact edges: the picture alone, cut out of its bars, reads at its own scale.
    report = watermarker.read_frames(marked[:, 208:400])
    assert report.detected and report.id == "00112233aabbccdd"


def test_a_wide_video_over_a_blurred_fill_in_a_tall_frame_is_read_on_the_fine_grid():
    """The same fit with the space around the picture filled by a blurred, darkened copy of it, as short-
    video platforms do: no bars to read inside, so the picture's pattern reaches the work grid at 56 % of
    its scale. The fine grid reads it at its own."""
    watermarker = VideoWatermarker.from_pretrained()
    assert watermarker.model.config.fine_grid > 0
    wide_frame = cv2.resize(sample_portrait(), (342, 192), interpolation=cv2.INTER_AREA)
    wide = watermarker.embed(np.repeat(wide_frame[None], 8, axis=0), "0123456789abcdef")
    tall = np.empty((8, 608, 342, 3), np.uint8)
    for index, picture in enumerate(wide):
        cover = cv2.resize(picture, (1083, 608))[:, 370:712]  # enlarged to cover the frame's height
        tall[index] = (cv2.GaussianBlur(cover, (0, 0), 20) * 0.6).astype(np.uint8)
        tall[index, 208:400] = picture
    video = transcode_frames(tall, crf=23)
    report = watermarker.read_frames(video)
    assert report.detected and report.id == "0123456789abcdef"
    watermarker.model.config = replace(watermarker.model.config, fine_grid=0.0)
    assert not watermarker.read_frames(video).detected


@pytest.mark.parametrize("fraction", [0.99, 0.97])
def test_a_picture_shrunk_a_little_inside_a_border_reads(fraction):
    """A thin border, or a slight zoom out over a fill, shrinks the pattern to 95-99 % of its scale:
    below the work grid's rescalings (crops enlarge it) and above the fine grid's (at most 94 %). The
    rescalings above 1 read it; without them it does not read."""
    watermarker = VideoWatermarker.from_pretrained()
    crop, _ = crop_face(sample_portrait(), size=256)
    marked = watermarker.embed(np.repeat(crop[None], 8, axis=0), "0123456789abcdef")
    inner = round(256 * fraction) // 2 * 2
    start = (256 - inner) // 2
    framed = np.empty_like(marked)
    for index, frame in enumerate(marked):
        framed[index] = (cv2.GaussianBlur(frame, (0, 0), 12) * 0.6).astype(np.uint8)
        framed[index, start : start + inner, start : start + inner] = cv2.resize(
            frame, (inner, inner), interpolation=cv2.INTER_AREA
        )
    video = transcode_frames(framed, crf=23)
    report = watermarker.read_frames(video)
    assert report.detected and report.id == "0123456789abcdef"
    config = watermarker.model.config
    below_one = tuple(scale for scale in config.search_scales if scale <= 1.0)
    watermarker.model.config = replace(config, search_scales=below_one)
    assert not watermarker.read_frames(video).detected


def test_a_slightly_rotated_copy_reads_and_says_by_how_much():
    """A rotation of a couple of degrees, zoomed to hide the corners, drifts the pattern off the tile
    grid (nearly invisible, and enough to strip a periodic mark); a clip nothing else detects is read
    turned back by the model's angles, and its spans at the angle found."""
    crop, _ = crop_face(sample_portrait(), size=192)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(np.repeat(crop[None], 8, axis=0), "a1b2c3d4e5f60718")
    turn = cv2.getRotationMatrix2D((96, 96), 1.5, np.cos(np.radians(1.5)) + np.sin(np.radians(1.5)))
    rotated = transcode_frames(np.stack([cv2.warpAffine(frame, turn, (192, 192)) for frame in marked]), crf=23)
    report = watermarker.read_frames(rotated, fps=4.0)
    assert report.detected and report.id == "a1b2c3d4e5f60718" and report.rotation == 1.5
    assert [(span.detected, span.id) for span in report.spans] == [(True, "a1b2c3d4e5f60718")] * 2
    assert not report.mirrored and watermarker.read_frames(marked).rotation == 0
    watermarker.model.config = replace(watermarker.model.config, rotation_angles=())
    assert not watermarker.read_frames(rotated).detected


def test_a_mirrored_copy_reads_and_says_so():
    """Flipping a re-upload left to right mirrors the pattern; the reader also reads the tiles flipped,
    and pays for it in the p-value (twice the readings)."""
    crop, _ = crop_face(sample_portrait(), size=192)
    watermarker = VideoWatermarker.from_pretrained()
    marked = watermarker.embed(np.repeat(crop[None], 8, axis=0), "a1b2c3d4e5f60718")
    straight = watermarker.read_frames(marked)
    assert straight.detected and not straight.mirrored
    mirrored = watermarker.read_frames(transcode_frames(np.ascontiguousarray(marked[:, :, ::-1]), crf=23))
    assert mirrored.detected and mirrored.id == "a1b2c3d4e5f60718" and mirrored.mirrored
    assert not watermarker.read_frames(crop[None]).mirrored


def test_the_margins_scale_with_the_pictures_side_in_log_side_and_hold_beyond_the_ends():
    config = WatermarkModelConfig(margin_sides=(256, 512), margin_scales=(1.0, 0.75))
    assert config.margin_scale(128) == 1.0 and config.margin_scale(256) == 1.0
    assert config.margin_scale(362) == pytest.approx(0.875, abs=1e-3)  # halfway in log side
    assert config.margin_scale(512) == 0.75 and config.margin_scale(1080) == 0.75
    assert WatermarkModelConfig().margin_scale(1080) == 1.0
    with pytest.raises(ValueError, match="same length"):
        WatermarkModelConfig(margin_sides=(256, 512), margin_scales=(1.0,))
    with pytest.raises(ValueError, match="increasing"):
        WatermarkModelConfig(margin_sides=(512, 256), margin_scales=(0.8, 1.0))


def test_a_larger_picture_is_marked_more_lightly_and_still_reads():
    """The margins are set per picture side: a picture past the first side gets less pattern (a higher
    PSNR), one at or below it exactly the pattern it had before."""
    crop, _ = crop_face(sample_portrait(), size=256)
    frames = np.repeat(crop[None], 8, axis=0)
    watermarker = VideoWatermarker.from_pretrained()
    plain = replace(watermarker.model.config, margin_sides=(), margin_scales=())

    def marked_with(config: WatermarkModelConfig) -> np.ndarray:
        watermarker.model.config = config
        return watermarker.embed(frames, "a1b2c3d4e5f60718")

    def psnr(marked: np.ndarray) -> float:
        return 10 * np.log10(255**2 / np.mean((marked.astype(float) - frames) ** 2))

    full = marked_with(plain)
    assert np.array_equal(marked_with(replace(plain, margin_sides=(256, 512), margin_scales=(1.0, 0.5))), full)
    lighter = marked_with(replace(plain, margin_sides=(128, 256), margin_scales=(1.0, 0.6)))
    assert psnr(lighter) > psnr(full) + 2
    report = watermarker.read_frames(lighter)
    assert report.detected and report.id == "a1b2c3d4e5f60718"
