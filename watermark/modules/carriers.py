"""Periodic spread-spectrum carriers shared in design (not in parameters) by embedder and extractor.

Each payload bit owns a learned P x P pattern; the embedder adds sum_i (+-1)_i * pattern_i, tiled over
the frame, to its residual. Tiling makes a crop a cyclic shift of the tile, which the extractor undoes
by circular correlation (FFT) over all P^2 shifts, taking the shift where the tile lies most in the
carriers' span; a crop that was then resized is handled by trying a few rescalings. Both sides start
from the same random patterns (same seed), so the channel works at step 0 and training adapts it to
the attacks: the classical remedy for the long cold start of learned watermarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

CARRIER_SEED = 20261125


def initial_carriers(n_bits: int, period: int) -> torch.Tensor:
    """(n_bits, period, period) orthonormal (up to scale), band-limited, noise-like patterns.

    They lie in the band of the 2 * n_bits lowest non-zero spatial frequencies of the tile (codecs
    discard the finest detail first) and span a random n_bits-dimensional subspace of it: mutually
    orthogonal (no cross-talk between bits at the start of training), noise-like, and - unlike a set
    of whole frequency bins - not closed under cyclic shifts, so the correlation energy peaks at the
    true shift. Deterministic.
    """
    band = 2 * n_bits
    if band >= period * period:
        raise ValueError(f"{n_bits} carriers do not fit in a {period}x{period} tile")
    generator = torch.Generator().manual_seed(CARRIER_SEED)
    frequencies = torch.fft.fftfreq(period) * period
    radius = frequencies[:, None] ** 2 + frequencies[None, :] ** 2
    # Real orthonormal basis of the tile: cosine and sine waves, lowest frequencies first, no DC.
    waves = []
    coords = torch.arange(period, dtype=torch.float64)
    order = sorted(
        {(min((u, v), ((-u) % period, (-v) % period))) for u in range(period) for v in range(period)} - {(0, 0)},
        key=lambda uv: (float(radius[uv]), uv),
    )
    for u, v in order:
        phase = 2 * torch.pi * (u * coords[:, None] + v * coords[None, :]) / period
        for wave in (torch.cos(phase), torch.sin(phase)):
            if wave.abs().max() > 1e-9:
                waves.append(wave.flatten())
        if len(waves) >= band:
            break
    basis = torch.linalg.qr(torch.stack(waves[:band]).T)[0].T  # (band, P*P) orthonormal rows
    mixing = torch.linalg.qr(torch.randn(band, n_bits, generator=generator, dtype=torch.float64))[0].T
    carriers = (mixing @ basis).view(n_bits, period, period).float()
    carriers = carriers - carriers.mean(dim=(-2, -1), keepdim=True)
    return carriers / carriers.std(dim=(-2, -1), keepdim=True)


def spread(bits: torch.Tensor, carriers: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, n_bits) bits in {0, 1} -> (B, 1, H, W) tiled pattern sum_i (2 b_i - 1) carrier_i / sqrt(n_bits)."""
    tile = torch.einsum("bn,npq->bpq", bits * 2 - 1, carriers) / carriers.shape[0] ** 0.5
    period = carriers.shape[-1]
    reps = (-(-size[0] // period), -(-size[1] // period))
    return tile.repeat(1, *reps)[:, None, : size[0], : size[1]]


def fold_tiles(image: torch.Tensor, period: int, border: int = 0) -> torch.Tensor:
    """(B, 1, H, W) -> (B, period, period): every tile position's mean over the image, partial tiles at
    the bottom and right included (a 70 % crop rescaled to the pattern's period is 89 pixels wide: two
    whole tiles would leave out 28 % of it on each axis). The same as the mean over whole tiles where
    the image holds a whole number of them.

    `border` pixels along each edge are left out of the means, each pixel still folding onto its own
    tile position (the positions keep the image's origin)."""
    height, width = image.shape[-2:]
    if border > 0 and min(height, width) <= 2 * border:
        raise ValueError(f"a {height}x{width} image has nothing inside a border of {border} pixels")
    pad = (0, -width % period, 0, -height % period)
    weights = image.new_ones(1, 1, height, width)
    if border > 0:
        weights = F.pad(weights[..., border:-border, border:-border], (border,) * 4)
        image = image * weights
    sums = F.pad(image, pad)
    counts = F.pad(weights, pad)
    rows, cols = sums.shape[-2] // period, sums.shape[-1] // period
    tile_sums = sums.reshape(image.shape[0], rows, period, cols, period).sum(dim=(1, 3))
    tile_counts = counts.reshape(1, rows, period, cols, period).sum(dim=(1, 3))
    return tile_sums / tile_counts.clamp(min=1)


def correlate(tile: torch.Tensor, carriers: torch.Tensor) -> torch.Tensor:
    """Circular cross-correlation of (B, P, P) with each carrier: (B, n_bits, P, P) over all shifts."""
    spectrum = torch.fft.rfft2(tile)[:, None] * torch.conj(torch.fft.rfft2(carriers))[None]
    return torch.fft.irfft2(spectrum, s=tile.shape[-2:]) / tile[0].numel()


def folded_scales(flattened: torch.Tensor, period: int, scales: tuple[float, ...], border: int = 0) -> torch.Tensor:
    """(B, 1, H, W) pre-whitened luma -> (B, len(scales), period, period) tile means per rescaling, the
    unrescaled one without the `border` pixels along each edge (fold_tiles).

    These statistics are linear in the frame, so a clip's statistics are the mean of its frames'.
    Only the rescaling 1 leaves the border out: there the frame's edge pixels fold onto the same tile
    positions in every clip (see WatermarkModelConfig.fold_border), while at another rescaling the
    edge is a crop's, whose pixels hold the mark like any others.
    """
    tiles = []
    for scale in scales:
        scaled = (
            flattened
            if scale == 1.0
            else F.interpolate(flattened, scale_factor=scale, mode="bilinear", align_corners=False)
        )
        if min(scaled.shape[-2:]) < period:  # too small to hold one tile: no evidence at this scale
            tiles.append(flattened.new_zeros(flattened.shape[0], period, period))
        else:
            tiles.append(fold_tiles(scaled, period, border if scale == 1.0 else 0))
    return torch.stack(tiles, dim=1)


def with_subpixel_phases(tiles: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, n_scales, P, P) -> (B, n_scales * steps^2, P, P): every tile statistic also shifted by each
    fraction k / steps of a pixel along each axis (k < steps), as a phase ramp on its spectrum (exact
    for a periodic, band-limited pattern). Integer shifts are searched by correlation; a crop whose
    offset is not a whole number of work-grid pixels (an odd offset at 256 px) leaves the carriers a
    fraction of a pixel off, which at their finest wavelength (3 pixels) halves their correlation.
    Index order: scale-major, then phase (row, column)."""
    if steps == 1:
        return tiles
    batch, n_scales, period, _ = tiles.shape
    frequencies = torch.fft.fftfreq(period, device=tiles.device)  # cycles per pixel
    spectrum = torch.fft.fft2(tiles.double())
    shifted = []
    for dy in range(steps):
        for dx in range(steps):
            ramp = torch.exp(-2j * torch.pi * (frequencies[:, None] * dy / steps + frequencies[None, :] * dx / steps))
            shifted.append(torch.fft.ifft2(spectrum * ramp).real.to(tiles.dtype))
    return torch.stack(shifted, dim=2).reshape(batch, n_scales * steps * steps, period, period)


def alignment_correlations(tiles: torch.Tensor, carriers: torch.Tensor) -> torch.Tensor:
    """(B, n_scales, P, P) tile statistics -> (B, n_scales, n_bits, P*P): every bit's correlation at
    every candidate alignment (rescaling x cyclic shift)."""
    batch, n_scales, period, _ = tiles.shape
    correlation = correlate(tiles.reshape(batch * n_scales, period, period), carriers)
    return correlation.reshape(batch, n_scales, carriers.shape[0], period * period)


def carrier_subspace(carriers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_bits, P, P) carriers -> (an orthonormal basis of their span (n_bits, P, P), each pattern kept
    to the carriers' band; the band: (P, P) bool mask of the 2 * n_bits frequencies holding most of
    their power, the band they were designed in (initial_carriers)).

    Projecting a band-limited tile on the basis measures how much of it lies in the span of the
    carriers (at the tile's alignment) rather than elsewhere in the band."""
    carriers = carriers.detach().double()
    period = carriers.shape[-1]
    power = torch.fft.fft2(carriers).abs().square().sum(0)
    threshold = power.flatten().topk(min(2 * carriers.shape[0], period * period)).values[-1]
    band = power >= threshold * (1 - 1e-9)  # ties kept: a real pattern's power is symmetric in frequency
    flat = carriers.flatten(1)
    values, vectors = torch.linalg.eigh(flat @ flat.T)
    basis = (vectors * values.clamp(min=1e-12).rsqrt()) @ vectors.T @ flat  # Gram^(-1/2) C: orthonormal rows
    kept = torch.fft.ifft2(torch.fft.fft2(basis.view_as(carriers)) * band).real
    return kept.float(), band


def sign_blind_alignment(tiles: torch.Tensor, subspace: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """(B, n_scales, P, P) tile statistics, the carriers' carrier_subspace -> (B,) flat index (scale x
    shift) of the alignment with the highest sign_blind_scores."""
    return sign_blind_scores(tiles, subspace).argmax(dim=1)


def sign_blind_scores(tiles: torch.Tensor, subspace: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """(B, n_scales, P, P) tile statistics, the carriers' carrier_subspace -> (B, n_scales * P * P): at
    every alignment, the tile's in-band energy in the span of the carriers relative to the rest of the
    band.

    At the true alignment the watermark lies wholly in the carriers' span; shifted, it still puts a
    share of its energy in that span (the carriers fill half their band, so half of any shift of the
    pattern projects onto them), which is why the energy of the correlations alone, relative to its
    median over shifts, has little contrast: the watermark raises the median at its own rescaling
    too. The energy in the span against the energy in the band's complement has it (on 20 clips cropped
    to 75 % and re-encoded at CRF 28, 256 px: the true alignment 20 times, against 13 for the energy
    relative to its median and none for the older 3rd-smallest |correlation|). Energies only, and
    nothing of the payload: the choice never looks at the bits, so the payload's test at it costs no
    search correction (and the same alignment for a payload and its negative).
    """
    with torch.no_grad():
        basis, band = subspace
        period = tiles.shape[-1]
        batch, n_scales = tiles.shape[:2]
        flat_tiles = tiles.detach().reshape(batch * n_scales, period, period).float()
        # (1 / P^2) sum_x T(x) basis(x - k): the span's coordinates, scaled as correlate() scales them.
        in_span = correlate(flat_tiles, basis).square().sum(1).flatten(1) * period**4  # (B * S, P^2)
        in_band = (torch.fft.fft2(flat_tiles).abs().square() * band).sum((-2, -1)) / period**2
        outside = (in_band[:, None] - in_span).clamp(min=1e-30)
        return (in_span / outside).reshape(batch, n_scales * period * period)


def subpixel_grid(steps: int, period: int) -> torch.Tensor:
    """(steps * P, steps * P) long: the index within one rescaling (with_subpixel_phases' order: phase,
    then shift) of the alignment at each position, in units of 1 / steps of a pixel. A tile moved by
    +phase / steps peaks one phase later, so position Y = steps * shift_y - phase_y (mod steps * P);
    every position is one (phase, shift) pair."""
    side = steps * period
    rows = torch.arange(side)[:, None].expand(side, side)
    cols = torch.arange(side)[None, :].expand(side, side)
    phase_y, phase_x = (-rows) % steps, (-cols) % steps
    shift_y, shift_x = ((rows + phase_y) // steps) % period, ((cols + phase_x) // steps) % period
    return (phase_y * steps + phase_x) * period * period + shift_y * period + shift_x


def subpixel_neighbours(indices: torch.Tensor, steps: int, period: int, radius: int) -> torch.Tensor:
    """(B, C) alignment indices (with_subpixel_phases' order, rescalings concatenated) -> (B, C * (2 radius
    + 1)^2): each alignment followed by the alignments within `radius` sub-pixel steps of it along each
    axis (cyclically), at its own rescaling; radius 0 gives the indices back."""
    if radius == 0:
        return indices
    per_scale = steps * steps * period * period
    grid = subpixel_grid(steps, period).to(indices.device)
    side = steps * period
    # Position of each index within its rescaling: the inverse of subpixel_grid.
    position = torch.empty(per_scale, dtype=torch.long, device=indices.device)
    position[grid.flatten()] = torch.arange(per_scale, device=indices.device)
    scale, at = indices // per_scale, position[indices % per_scale]
    y, x = at // side, at % side
    offsets = [(0, 0)] + [
        (dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if (dy, dx) != (0, 0)
    ]
    around = [scale * per_scale + grid[(y + dy) % side, (x + dx) % side] for dy, dx in offsets]
    return torch.stack(around, dim=-1).flatten(1)


def sign_blind_peaks(
    scores: torch.Tensor, count: int, steps: int, period: int, scales: Sequence[float]
) -> torch.Tensor:
    """(B, n_scales * steps^2 * P^2) alignment scores (with_subpixel_phases' order) -> (B, count) flat
    indices of the `count` highest distinct peaks, best first. After each pick, the alignments within one
    pixel of it (cyclically) at its own and the neighbouring rescalings are set aside: they are the same
    peak seen half a pixel or 2.5 % of scale away (neighbours in value of the rescalings' `scales`, whose
    order need not be sorted). On a noisy reading the true alignment is not always the highest peak (a
    crop + CRF 28 at 256 px: the 2nd to 14th on 3 of 20 clips), but it is almost always among the few
    highest."""
    batch = scores.shape[0]
    per_scale = steps * steps * period * period
    n_scales = len(scales)
    if scores.shape[1] != n_scales * per_scale:
        raise ValueError(f"{scores.shape[1]} scores do not hold {n_scales} rescalings of {per_scale} alignments")
    neighbours = neighbouring_scales(scales)
    grid = subpixel_grid(steps, period).to(scores.device)
    side = steps * period
    positioned = scores.view(batch, n_scales, per_scale)[:, :, grid.flatten()].view(batch, n_scales, side, side).clone()
    nearby = torch.arange(-steps, steps + 1, device=scores.device)
    peaks = torch.empty(batch, count, dtype=torch.long, device=scores.device)
    for pick in range(count):
        flat = positioned.flatten(1).argmax(dim=1)
        scale, y, x = flat // (side * side), (flat // side) % side, flat % side
        peaks[:, pick] = scale * per_scale + grid[y, x]
        for item in range(batch):
            rows, cols = (y[item] + nearby) % side, (x[item] + nearby) % side
            for neighbour in neighbours[int(scale[item])]:
                positioned[item, neighbour, rows[:, None], cols[None, :]] = -torch.inf
    return peaks


def neighbouring_scales(scales: Sequence[float]) -> list[list[int]]:
    """For each rescaling (by index), itself and the indices of the nearest rescalings above and below
    it in value."""
    ranked = sorted(range(len(scales)), key=lambda index: scales[index])
    neighbours: list[list[int]] = [[] for _ in scales]
    for rank, index in enumerate(ranked):
        neighbours[index] = [ranked[near] for near in range(max(rank - 1, 0), min(rank + 2, len(ranked)))]
    return neighbours


def at_alignment(correlation: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, n_scales, n_bits, P*P), (B,) flat indices -> (B, n_bits) correlations there."""
    batch, _, n_bits, shifts = correlation.shape
    chosen = correlation[torch.arange(batch), index // shifts]  # (B, n_bits, P*P)
    return chosen.gather(2, (index % shifts)[:, None, None].expand(-1, n_bits, 1))[..., 0]


def weigh_axis_frequencies(tiles: torch.Tensor, weight: float) -> torch.Tensor:
    """(..., P, P) tiles with their frequencies on the axes (u = 0 or v = 0) scaled by `weight`.

    Those frequencies are the tile's row and column profiles, where unmarked video leans the same way
    in many clips: the frame's borders and a centred face's features (eyes, mouth, shoulders) fold to the
    same tile rows and columns, so a matched filter that reads them at full weight has a per-bit bias.
    Scaling is linear and commutes with cyclic shifts, so it may be applied to a tile before the reading
    at any shift."""
    if weight == 1.0:
        return tiles
    period = tiles.shape[-1]
    on_axis = torch.zeros(period, period, dtype=torch.bool, device=tiles.device)
    on_axis[0, :] = on_axis[:, 0] = True
    gains = torch.where(on_axis, weight, 1.0).to(torch.float64)
    return torch.fft.ifft2(torch.fft.fft2(tiles.double()) * gains).real.to(tiles.dtype)


def correlations_at(tiles: torch.Tensor, carriers: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(B, P, P) tiles, (B,) flat shifts (row * P + column) -> (B, n_bits): correlate's values at those
    shifts alone, computed directly (a reading needs one shift, correlate computes all P^2)."""
    period = tiles.shape[-1]
    offsets = torch.arange(period, device=tiles.device)
    rows = (offsets[None, :] + (shifts // period)[:, None]) % period  # (B, P)
    cols = (offsets[None, :] + (shifts % period)[:, None]) % period
    batch = torch.arange(len(tiles), device=tiles.device)[:, None, None]
    shifted = tiles[batch, rows[:, :, None], cols[:, None, :]]  # shifted[b, y, x] = tile[b, y + dy, x + dx]
    return torch.einsum("bpq,npq->bn", shifted, carriers) / (period * period)


def demodulate(tiles: torch.Tensor, carriers: torch.Tensor, subpixel_steps: int = 1) -> torch.Tensor:
    """(B, n_scales, P, P) tile statistics -> (B, n_bits) correlations at the sign-blind alignment."""
    tiles = with_subpixel_phases(tiles, subpixel_steps)
    return at_alignment(
        alignment_correlations(tiles, carriers), sign_blind_alignment(tiles, carrier_subspace(carriers))
    )
