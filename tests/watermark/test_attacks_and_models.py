from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from watermark.augmentation.attacks import ATTACKS, sample_training_attack
from watermark.config import WatermarkModelConfig
from watermark.models.watermarker import Watermarker
from watermark.modules.carriers import weigh_axis_frequencies
from watermark.modules.jnd import jnd_mask

SMALL = WatermarkModelConfig(n_bits=191, work_size=64, embedder_width=8, extractor_width=8, message_dim=16)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_runs_and_passes_gradients(name):
    frames = torch.rand(2, 3, 64, 64, requires_grad=True)
    attacked = ATTACKS[name](frames)
    assert attacked.shape[:2] == (2, 3) and torch.isfinite(attacked).all()
    attacked.mean().backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0


def test_real_codec_changes_pixels_but_keeps_content():
    frames = torch.rand(4, 3, 64, 64) * 0.2 + 0.4
    coded = ATTACKS["h264"](frames, crf=30)
    difference = (coded - frames).abs().mean()
    assert 0 < float(difference) < 0.1


def test_training_attack_chains_are_varied():
    rng = np.random.default_rng(0)
    names = {spec.name for _ in range(200) for spec in sample_training_attack(rng)}
    assert {"h264", "jpeg", "resize", "crop", "rotate", "blur", "noise"} <= names


@pytest.mark.parametrize("size", [(64, 64), (90, 160), (256, 256)])
def test_embedding_works_at_any_resolution_with_small_changes(size):
    torch.manual_seed(0)
    model = Watermarker(SMALL).eval()
    frames = torch.rand(2, 3, *size)
    bits = torch.randint(0, 2, (2, 191)).float()
    with torch.no_grad():
        marked = model.embed(frames, bits)
        logits = model.extract(marked)
    assert marked.shape == frames.shape and logits.shape == (2, 191)
    change = (marked - frames).abs()
    assert float(change.max()) <= SMALL.strength * 3.0 + 1e-6
    # Luma-only: the same change on R, G and B (except where clipping at 0 or 1 intervenes).
    inside = (frames > 0.05) & (frames < 0.95)
    delta = marked - frames
    assert torch.allclose(delta[:, 0][inside.all(1)], delta[:, 1][inside.all(1)], atol=1e-6)


def test_jnd_mask_prefers_texture_to_flat_areas():
    flat = torch.full((1, 3, 64, 64), 0.5)
    textured = torch.rand(1, 3, 64, 64)
    assert float(jnd_mask(textured).mean()) > 2 * float(jnd_mask(flat).mean())


def test_sign_blind_alignment_finds_a_shifted_pattern_whose_weak_bits_sit_near_zero():
    """A crop is a cyclic shift of the tile; after a codec some bits sit near zero at the true shift,
    which must not hide it (the rule uses energies, never the payload's signs)."""
    from watermark.modules.carriers import carrier_subspace, initial_carriers, sign_blind_alignment

    carriers = initial_carriers(191, 32)
    rng = np.random.default_rng(0)
    amplitudes = torch.from_numpy(rng.choice([-1.0, 1.0], 191)).float()
    amplitudes[:20] *= 0.02  # twenty bits damaged almost to nothing
    tile = torch.einsum("n,npq->pq", amplitudes, carriers)
    shifted = torch.roll(tile, shifts=(5, 11), dims=(0, 1))
    noisy = shifted + 0.5 * torch.from_numpy(rng.normal(size=(32, 32))).float()
    # Three rescalings: the pattern at the first, noise only at the others.
    tiles = torch.stack([noisy, torch.randn(32, 32), torch.randn(32, 32)])[None]
    subspace = carrier_subspace(carriers)
    index = int(sign_blind_alignment(tiles, subspace)[0])
    assert index // 1024 == 0
    # correlate() is a circular cross-correlation: the pattern rolled by (5, 11) peaks at that shift.
    assert divmod(index % 1024, 32) == (5, 11)
    # The same with the payload's signs flipped: the choice does not depend on them.
    flipped = torch.stack([-noisy, tiles[0, 1], tiles[0, 2]])[None]
    assert int(sign_blind_alignment(flipped, subspace)[0]) == index


def test_carrier_subspace_splits_the_band_into_the_carriers_span_and_the_rest():
    """The sign-blind rule compares a tile's energy in the carriers' span with the rest of their band:
    a pattern of carriers lies wholly in the span at its own alignment, half of it at any other
    shift (the carriers fill half their band), and so does noise."""
    from watermark.modules.carriers import carrier_subspace, correlate, initial_carriers

    carriers = initial_carriers(191, 32)
    basis, band = carrier_subspace(carriers)
    assert int(band.sum()) == 2 * 191
    flat = basis.flatten(1).double()
    assert torch.allclose(flat @ flat.T, torch.eye(191, dtype=torch.float64), atol=1e-4)

    def share_in_span(tile: torch.Tensor) -> torch.Tensor:
        in_span = correlate(tile[None], basis)[0].square().sum(0) * 32**4
        in_band = (torch.fft.fft2(tile).abs().square() * band).sum() / 32**2
        return (in_span / in_band).flatten()

    rng = np.random.default_rng(1)
    pattern = torch.einsum("n,npq->pq", torch.from_numpy(rng.choice([-1.0, 1.0], 191)).float(), carriers)
    shares = share_in_span(pattern)
    assert float(shares[0]) == pytest.approx(1.0, abs=1e-3)
    assert 0.35 < float(shares[1:].median()) < 0.65
    assert float(shares[1:].max()) < 0.8
    noise = share_in_span(torch.from_numpy(rng.normal(size=(32, 32))).float())
    assert 0.35 < float(noise.median()) < 0.65


def test_half_pixel_phases_find_a_pattern_sampled_between_the_pixels():
    """An odd crop offset at 256 px leaves the carriers half a pixel of the reader's grid off; the
    phase-shifted copies of the tile put one of them back on it."""
    from watermark.modules.carriers import (
        alignment_correlations,
        carrier_subspace,
        initial_carriers,
        sign_blind_alignment,
        with_subpixel_phases,
    )

    carriers = initial_carriers(191, 32)
    signs = torch.from_numpy(np.random.default_rng(4).choice([-1.0, 1.0], 191)).float()
    pattern = torch.einsum("n,npq->pq", signs, carriers)
    frequencies = torch.fft.fftfreq(32)
    # The pattern sampled half a pixel further along both axes (p(x + 1/2)), then shifted by (5, 11).
    ramp = torch.exp(2j * torch.pi * (frequencies[:, None] + frequencies[None, :]) * 0.5)
    between = torch.fft.ifft2(torch.fft.fft2(pattern.double()) * ramp).real.float()
    tiles = torch.roll(between, shifts=(5, 11), dims=(0, 1))[None, None]
    phased = with_subpixel_phases(tiles, 2)
    assert phased.shape == (1, 4, 32, 32) and torch.equal(phased[:, 0], tiles[:, 0])
    index = int(sign_blind_alignment(phased, carrier_subspace(carriers))[0])
    assert index // 1024 == 3  # the phase shifted by half a pixel on both axes
    correlation = alignment_correlations(phased, carriers)[0]
    agreement = (correlation * signs[None, :, None]).sum(1)  # (phases, shifts)
    whole_pixel_best, half_pixel_best = float(agreement[0].max()), float(agreement[3].max())
    assert half_pixel_best == pytest.approx(float((signs * signs).sum()) * float(carriers[0].square().mean()), rel=0.02)
    assert whole_pixel_best < 0.8 * half_pixel_best


def test_spans_are_read_at_the_clips_alignments():
    """logits_at gives the logits the full search computes at the same alignment."""
    config = WatermarkModelConfig(
        n_bits=191, work_size=64, embedder_width=8, extractor_width=8, message_dim=16, search_scales=(1.0, 0.75)
    )
    model = Watermarker(config).eval()
    from watermark.modules.carriers import alignment_correlations, at_alignment, with_subpixel_phases

    tiles = torch.randn(1, 2, 32, 32)
    learned = torch.randn(1, 191)
    with torch.no_grad():
        for index in model.candidate_alignments(tiles).T:
            full = alignment_correlations(with_subpixel_phases(tiles, 2), model.extractor.carriers)
            expected = learned + model.extractor.log_gain.exp() * at_alignment(full, index) - model._offset()
            assert torch.allclose(model.logits_at(learned, tiles, index), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("search_scales", [(1.0, 0.75), (0.75, 1.0)])
def test_identity_logits_are_the_readers_identity_reading_per_frame(search_scales):
    """Averaged over frames, identity_logits is what the reader computes at its first candidate (the
    identity) on the clip's statistics: the per-bit bias bench measures the bits the reader decodes. The
    identity is the unrescaled, unshifted tile wherever the config lists the rescaling 1."""
    config = WatermarkModelConfig(
        n_bits=191, work_size=64, embedder_width=8, extractor_width=8, message_dim=16, search_scales=search_scales
    )
    model = Watermarker(config).eval()
    frames = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        learned, tiles = model.statistics(frames)
        identity = model.candidate_alignments(tiles.mean(0, keepdim=True))[:, 0]
        expected = model.logits_at(learned.mean(0, keepdim=True), tiles.mean(0, keepdim=True), identity)
        assert torch.allclose(model.identity_logits(frames).mean(0, keepdim=True), expected, rtol=1e-4, atol=1e-4)
        assert torch.equal(model.identity_alignment(1), identity)
        period, steps = model.extractor.carriers.shape[-1], config.search_subpixel_steps
        assert identity.item() == search_scales.index(1.0) * steps * steps * period * period


def test_the_fine_grid_has_its_own_candidates_after_the_work_grids():
    config = WatermarkModelConfig(
        n_bits=191, work_size=64, embedder_width=8, extractor_width=8, message_dim=16, search_scales=(1.0, 0.75)
    )
    fine = replace(config, fine_grid=2.0, fine_grid_peaks=3)
    frames = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        _, tiles = Watermarker(config).eval().statistics(frames)
        fine_model = Watermarker(fine).eval()
        _, both = fine_model.statistics(frames)
        candidates = fine_model.candidate_alignments(both)
    assert tiles.shape == (2, 2, 32, 32) and both.shape == (2, 4, 32, 32)
    assert torch.allclose(both[:, :2], tiles)  # the work grid's statistics are unchanged
    per_grid = 2 * 4 * 32 * 32  # rescalings x half-pixel phases x shifts
    assert candidates.shape == (2, 1 + config.search_peaks + 3)
    assert (candidates[:, : 1 + config.search_peaks] < per_grid).all() and (candidates[:, -3:] >= per_grid).all()


def test_folding_counts_the_partial_tiles_at_the_edges():
    from watermark.modules.carriers import fold_tiles, initial_carriers

    pattern = initial_carriers(4, 32)[:1]
    periodic = pattern.repeat(1, 3, 3)[:, None, :89, :89]  # two whole tiles and 25 pixels on each axis
    assert torch.allclose(fold_tiles(periodic, 32), pattern, atol=1e-6)
    image = torch.zeros(1, 1, 40, 32)
    image[..., 32:, :] = 1.0  # only the partial tile's rows: each folded row 0-7 has one 1 and one 0
    folded = fold_tiles(image, 32)
    assert torch.allclose(folded[0, :8], torch.full((8, 32), 0.5)) and not folded[0, 8:].any()


def test_a_border_is_left_out_of_the_fold_and_the_rest_keeps_its_tile_positions():
    from watermark.modules.carriers import fold_tiles, initial_carriers

    pattern = initial_carriers(4, 32)[:1]
    periodic = pattern.repeat(1, 3, 3)[:, None, :89, :89]
    edged = periodic.clone()
    edged[..., :3, :], edged[..., -3:, :], edged[..., :, :3], edged[..., :, -3:] = 5.0, -4.0, 3.0, -2.0
    assert torch.allclose(fold_tiles(edged, 32, border=3), pattern, atol=1e-6)
    assert not torch.allclose(fold_tiles(edged, 32), pattern, atol=1e-2)
    with pytest.raises(ValueError, match="nothing inside a border"):
        fold_tiles(torch.zeros(1, 1, 6, 40), 32, border=3)


def test_the_frames_edge_is_left_out_of_the_unrescaled_reading_alone():
    """Two frames that differ only in their outer 2 pixels (3 on the fine grid, 1.5x finer, and one more
    of its interpolation): with the band's reach (band_box // 2) added, fold_border keeps the difference
    out of the rescaling 1's statistics (identity and shifts, the work and the fine grid's), and a crop's
    rescalings still read every pixel."""
    config = replace(SMALL, band_box=5, band_range=6.0, fold_border=6, search_scales=(1.0, 0.75), fine_grid=1.5)
    model = Watermarker(config).eval()
    torch.manual_seed(3)
    frames = torch.rand(2, 3, 64, 64)
    edged = frames.clone()
    edged[..., :2, :], edged[..., :, -2:] = 1.0, 0.0
    with torch.no_grad():
        _, tiles = model.statistics(frames)
        _, edged_tiles = model.statistics(edged)
        _, without = Watermarker(replace(config, fold_border=0)).eval().statistics(edged)
    unrescaled = [0, 2]  # the work grid's and the fine grid's rescaling 1
    assert torch.allclose(tiles[:, unrescaled], edged_tiles[:, unrescaled], atol=1e-6)
    assert not torch.allclose(tiles[:, [1, 3]], edged_tiles[:, [1, 3]], atol=1e-4)
    assert not torch.allclose(tiles[:, unrescaled], without[:, unrescaled], atol=1e-4)


def test_the_fold_border_fits_inside_a_tile():
    with pytest.raises(ValueError, match="fold_border"):
        replace(SMALL, fold_border=16)
    with pytest.raises(ValueError, match="fold_border"):
        replace(SMALL, fold_border=-1)


def test_sign_blind_peaks_are_distinct():
    """In sub-pixel units a tile moved by +phase / steps peaks at steps * shift - phase; a peak hides the
    alignments within one pixel of it (wrapping around the tile) at its own and the neighbouring
    rescalings, so the next peak is another place."""
    from watermark.modules.carriers import sign_blind_peaks, subpixel_grid

    steps, period = 2, 32
    assert torch.equal(subpixel_grid(steps, period).flatten().sort().values, torch.arange(steps**2 * period**2))
    scores = torch.zeros(1, 3 * steps * steps * period * period)

    def index(scale: int, y: int, x: int) -> int:  # (y, x) in half pixels
        phase_y, phase_x = (-y) % steps, (-x) % steps
        shift = (((y + phase_y) // steps) % period) * period + ((x + phase_x) // steps) % period
        return (scale * steps * steps + phase_y * steps + phase_x) * period * period + shift

    peak = index(1, 9, 63)  # half a pixel on both axes, at the right edge
    scores[0, peak] = 10.0
    scores[0, index(1, 10, 0)] = 9.5  # half a pixel away across the edge: the same peak
    scores[0, index(2, 11, 62)] = 9.0  # one pixel away at the next rescaling: the same peak
    scores[0, index(1, 12, 63)] = 8.0  # a pixel and a half away: another peak
    scores[0, index(0, 40, 20)] = 7.0
    peaks = sign_blind_peaks(scores, 3, steps, period, (1.0, 0.975, 0.95))[0].tolist()
    assert peaks == [peak, index(1, 12, 63), index(0, 40, 20)]


def test_the_rescalings_next_to_a_peak_are_its_neighbours_in_value_not_in_place():
    """The card lists the rescalings above 1 after those below (1.0, 0.975, ..., 0.6, 1.025, 1.05): a peak
    at 1.0 hides its shadow at 1.025, not an alignment at 0.6 that happens to be listed next to 1.025."""
    from watermark.modules.carriers import neighbouring_scales, sign_blind_peaks

    assert neighbouring_scales((1.0, 0.975, 0.95)) == [[1, 0], [2, 1, 0], [2, 1]]
    scales = (1.0, 0.9, 0.8, 1.1)
    assert neighbouring_scales(scales) == [[1, 0, 3], [2, 1, 0], [2, 1], [0, 3]]
    per_scale = 32 * 32
    scores = torch.zeros(1, len(scales) * per_scale)
    scores[0, 0 * per_scale + 5] = 10.0  # the peak, at 1.0
    scores[0, 3 * per_scale + 5] = 9.0  # its shadow at 1.1: the same peak
    scores[0, 2 * per_scale + 5] = 8.0  # at 0.8, listed next to 1.1: another peak
    assert sign_blind_peaks(scores, 2, 1, 32, scales)[0].tolist() == [5, 2 * per_scale + 5]
    with pytest.raises(ValueError, match="rescalings"):
        sign_blind_peaks(scores, 2, 1, 32, scales[:3])


def test_every_peak_is_followed_by_its_sub_pixel_neighbours_at_its_rescaling():
    from watermark.modules.carriers import subpixel_grid, subpixel_neighbours

    steps, period = 2, 32
    per_scale, side = steps * steps * period * period, steps * period
    grid = subpixel_grid(steps, period)
    position = {int(index): divmod(number, side) for number, index in enumerate(grid.flatten())}
    peaks = torch.tensor([[0, 3 * per_scale + 777], [per_scale + 5, 2 * per_scale + per_scale - 1]])
    assert torch.equal(subpixel_neighbours(peaks, steps, period, 0), peaks)
    around = subpixel_neighbours(peaks, steps, period, 1).view(2, 2, 9)
    assert torch.equal(around[..., 0], peaks)
    for row in range(2):
        for peak, block in zip(peaks[row].tolist(), around[row].tolist(), strict=True):
            assert len(set(block)) == 9 and {index // per_scale for index in block} == {peak // per_scale}
            y, x = position[peak % per_scale]
            offsets = set()
            for index in block:
                ny, nx = position[index % per_scale]
                offsets.add(((ny - y + 1) % side - 1, (nx - x + 1) % side - 1))
            assert offsets == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


def test_with_neighbours_the_peaks_are_read_first_and_then_beside_them():
    config = WatermarkModelConfig(
        n_bits=191, work_size=64, embedder_width=8, extractor_width=8, message_dim=16, search_scales=(1.0, 0.75)
    )
    frames = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        model = Watermarker(config).eval()
        _, tiles = model.statistics(frames)
        plain = model.candidate_alignments(tiles)
        widened = Watermarker(replace(config, search_neighbours=1)).eval()
        widened.load_state_dict(model.state_dict())
        candidates = widened.candidate_alignments(tiles)
    assert candidates.shape == (2, 1 + config.search_peaks * 9)
    assert torch.equal(candidates[:, 0], plain[:, 0])
    assert torch.equal(candidates[:, 1:].reshape(2, -1, 9)[..., 0], plain[:, 1:])


@pytest.mark.parametrize("fraction", [0.9, 0.75])
def test_a_centred_crop_reads_at_its_family_alignment(fraction):
    """A clean tiled pattern on a 2:1 frame, cropped about its centre to `fraction` of each side (and so
    kept at the frame's aspect): its bits agree best, over every alignment, at the alignment that
    centred_crop_alignments gives for that rescaling."""
    from watermark.modules.carriers import alignment_correlations, spread, with_subpixel_phases

    config = replace(SMALL, search_scales=(1.0, 0.9, 0.75))
    model = Watermarker(config).eval()
    bits = torch.from_numpy(np.random.default_rng(5).integers(0, 2, (1, 191))).float()
    pattern = spread(bits, model.extractor.carriers.detach(), (64, 128))  # on the 64 x 128 work grid
    frame = (0.5 + 0.1 * pattern).expand(1, 3, 64, 128)
    height, width = round(64 * fraction), round(128 * fraction)
    top, left = (64 - height) // 2, (128 - width) // 2
    cropped = frame[..., top : top + height, left : left + width]
    with torch.no_grad():
        _, tiles = model.statistics(cropped)
        correlation = alignment_correlations(with_subpixel_phases(tiles, 2), model.extractor.carriers)[0]
    agreement = (correlation.sign() * (bits[0] * 2 - 1)[None, :, None]).sum(1).flatten()
    family = model.centred_crop_alignments((64, 128))
    assert family.shape == (2,)
    at_its_scale = family[config.search_scales.index(fraction) - 1]
    assert agreement[at_its_scale] == agreement.max() == 191


def test_the_best_centred_crop_alignments_follow_the_peaks_given_the_grid():
    config = replace(SMALL, search_scales=(1.0, 0.9, 0.75))
    frames = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        model = Watermarker(replace(config, centred_crop_peaks=1, search_neighbours=1)).eval()
        _, tiles = model.statistics(frames)
        without = model.candidate_alignments(tiles)
        candidates = model.candidate_alignments(tiles, (64, 64))
    assert without.shape == (2, 1 + config.search_peaks * 9)
    assert candidates.shape == (2, 1 + (config.search_peaks + 1) * 9)
    assert torch.equal(candidates[:, : without.shape[1]], without)
    assert all(int(index) in model.centred_crop_alignments((64, 64)).tolist() for index in candidates[:, -9])


def test_axis_weight_scales_the_row_and_column_profiles_alone_and_commutes_with_shifts():
    torch.manual_seed(0)
    profiles = torch.randn(32, 1) + torch.randn(1, 32)  # row and column profiles: axis frequencies only
    off_axis = torch.from_numpy(
        np.outer(np.cos(np.arange(32) * 2 * np.pi * 3 / 32), np.sin(np.arange(32) * 2 * np.pi * 5 / 32))
    ).float()
    tiles = (profiles + off_axis)[None]
    # The tile mean (u = v = 0) is on both axes: scaled too.
    weighted = weigh_axis_frequencies(tiles, 0.25)
    assert torch.allclose(weighted, (0.25 * profiles + off_axis)[None], atol=1e-5)
    assert torch.allclose(weigh_axis_frequencies(tiles, 0.0), off_axis[None], atol=1e-5)
    assert weigh_axis_frequencies(tiles, 1.0) is tiles
    shifted = torch.roll(tiles, shifts=(5, -3), dims=(-2, -1))
    assert torch.allclose(
        weigh_axis_frequencies(shifted, 0.3),
        torch.roll(weigh_axis_frequencies(tiles, 0.3), (5, -3), (-2, -1)),
        atol=1e-5,
    )


def test_axis_weight_keeps_row_and_column_structure_out_of_the_bits():
    """A frame made only of row and column profiles (a horizon, a centred face's features, the frame's
    borders: what unmarked video shares across clips) leans every bit one way under the full matched
    filter, and not at all with the axes left out of the readings."""
    torch.manual_seed(0)
    luma = torch.rand(64, 1) * 0.5 + torch.rand(1, 64) * 0.3
    frames = luma.expand(3, 64, 64)[None].clone()
    full = Watermarker(replace(SMALL, learned_weight=0.0)).eval()
    axis_free = Watermarker(replace(SMALL, learned_weight=0.0, axis_weight=0.0)).eval()
    axis_free.load_state_dict(full.state_dict())
    with torch.no_grad():
        leaning = full.identity_logits(frames)
        level = axis_free.identity_logits(frames)
    assert float(leaning.abs().mean()) > 1e-3
    assert float(level.abs().max()) < 1e-4 * float(leaning.abs().mean())
