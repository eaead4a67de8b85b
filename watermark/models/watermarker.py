"""The assembled watermark system: embed a payload into frames of any size, extract soft bits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.functional import InterpolationMode, rotate

from watermark.config import WatermarkModelConfig
from watermark.models.embedder import WatermarkEmbedder
from watermark.models.extractor import WatermarkExtractor
from watermark.modules.carriers import (
    carrier_subspace,
    correlations_at,
    sign_blind_peaks,
    sign_blind_scores,
    subpixel_grid,
    subpixel_neighbours,
    weigh_axis_frequencies,
    with_subpixel_phases,
)
from watermark.modules.informed import carrier_gram, group_rows, informed_correction, per_frame, tile_correlations
from watermark.modules.jnd import jnd_mask, luma


def resize_to(frames: torch.Tensor, size: int) -> torch.Tensor:
    """frames resized to size x size (the embedder network's square input)."""
    if frames.shape[-1] == size and frames.shape[-2] == size:
        return frames
    return F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def work_grid_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The carriers' grid for a height x width frame: its shorter side scaled to `size`, its aspect kept.

    Keeping the aspect makes the pattern isotropic on the frame (its period is a fixed fraction of the
    shorter side), so the geometry a platform imposes on a video - bars added to fit 9:16 or 16:9, a crop
    to another aspect - reaches the reader as a shift and, at most, a uniform rescaling, which it
    searches. Squeezing every frame into a square grid would turn them into anisotropic stretches."""
    scale = size / min(height, width)
    return max(size, round(height * scale)), max(size, round(width * scale))


def to_work_grid(frames: torch.Tensor, size: int) -> torch.Tensor:
    """frames resized to their work_grid_shape."""
    shape = work_grid_shape(*frames.shape[-2:], size)
    if tuple(frames.shape[-2:]) == shape:
        return frames
    return F.interpolate(frames, size=shape, mode="bilinear", antialias=True, align_corners=False)


def _resized(frames: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A change made on the work grid, at the frames' size (bilinear: linear, and no antialiasing is
    needed going up)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False)


class Watermarker(nn.Module):
    """Embedder + extractor. Frames are (B, 3, H, W) float in [0, 1], any H, W."""

    def __init__(self, config: WatermarkModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedder = WatermarkEmbedder(config)
        self.extractor = WatermarkExtractor(config)
        # Per-bit mean logit of the extractor on unmarked video, measured after training and subtracted
        # at extraction, so that every bit is unbiased on content Candor did not mark. It is the learned
        # branch's bias (the matched filter's mean is zero by construction), so it is scaled with it.
        self.register_buffer("logit_offset", torch.zeros(config.n_bits))

    def residual(self, frames: torch.Tensor, bits: torch.Tensor, strength: float | None = None) -> torch.Tensor:
        """(B, 1, H, W) luma residual for `frames` at their own resolution."""
        strength = self.config.strength if strength is None else strength
        if strength == 0:  # the network's residual is switched off by calibration: do not run it
            return frames.new_zeros(frames.shape[0], 1, *frames.shape[-2:])
        small = self.embedder(resize_to(frames, self.config.work_size), bits)
        residual = F.interpolate(small, size=frames.shape[-2:], mode="bilinear", align_corners=False)
        return residual * jnd_mask(frames) * strength

    def embed(
        self,
        frames: torch.Tensor,
        bits: torch.Tensor,
        strength: float | None = None,
        margin: float | None = None,
        group: int | None = None,
    ) -> torch.Tensor:
        """Watermarked frames: `frames` plus their luma_change on R, G and B (no chroma change, so yuv420p
        keeps it), clipped."""
        return (frames + self.luma_change(frames, bits, strength, margin, group)).clamp_(0, 1)

    def luma_change(
        self,
        frames: torch.Tensor,
        bits: torch.Tensor,
        strength: float | None = None,
        margin: float | None = None,
        group: int | None = None,
    ) -> torch.Tensor:
        """(B, 1, H, W) luma change that marks `frames` (B, 3, H, W).

        The network's residual first; then informed embedding tops up every bit whose matched-filter
        correlation, averaged over each group of `group` consecutive frames (default
        config.informed_group), is short of `margin` (default: config.informed_margin).
        """
        change = self.residual(frames, bits, strength)
        margin = self.config.informed_margin if margin is None else margin
        if margin <= 0:
            return change
        group = self.config.informed_group if group is None else group
        # The passes work on luma alone, and clipping is ignored until the frames are written (a few
        # saturated pixels, which the channel passes of inference measure for real). A group's frames
        # share one correction, made on the work grid, so the frames themselves are resampled once, and
        # the corrections go to the frames' size once per group, not once per frame and pass.
        size = frames.shape[-2:]
        grid_base = to_work_grid(luma(frames) + change, self.config.work_size)
        grid_change = torch.zeros_like(grid_base[::group])
        for _ in range(self.config.informed_iterations):
            # What the reader's grid holds of the correction once it is at the frames' size (linear).
            seen = to_work_grid(_resized(grid_change, size), self.config.work_size)
            grid_change = grid_change + self.grid_correction(
                grid_base + per_frame(seen, group, len(frames)), bits, margin, group
            )
        return change + per_frame(_resized(grid_change, size), group, len(frames))

    def correction(
        self, observed_luma: torch.Tensor, bits: torch.Tensor, margin: float, group: int | None = None
    ) -> torch.Tensor:
        """(B, 1, H, W) luma change that brings the group-mean correlations of `observed_luma` (B, 1, H, W)
        to the margin (see watermark.modules.informed)."""
        group = self.config.informed_group if group is None else group
        on_grid = self.grid_correction(to_work_grid(observed_luma, self.config.work_size), bits, margin, group)
        return per_frame(_resized(on_grid, observed_luma.shape[-2:]), group, len(observed_luma))

    def grid_correction(
        self, observed_grid: torch.Tensor, bits: torch.Tensor, margin: float, group: int
    ) -> torch.Tensor:
        """(ceil(B / group), 1, h, w): one correction per group of `group` frames, on the work grid, for the
        frames' luma on the work grid `observed_grid` (B, 1, h, w); `bits` (B, n_bits) are the same within
        a group."""
        carriers = self.extractor.carriers
        reading = tile_correlations(observed_grid, carriers, self.extractor.band, self.config.fold_border)
        correlations = group_rows(reading, group)
        return informed_correction(
            correlations, bits[::group], carriers, self._gram_inverse(), margin, tuple(observed_grid.shape[-2:])
        )

    def _offset(self) -> torch.Tensor:
        """The unmarked-video bias subtracted from the logits: the learned branch's, scaled with it."""
        return self.config.learned_weight * self.logit_offset

    def _gram_inverse(self) -> torch.Tensor:
        """Inverse Gram matrix of the carriers, cached until they change (training updates them in place)."""
        carriers = self.extractor.carriers
        if carriers.requires_grad and torch.is_grad_enabled():  # training: part of the graph, never cached
            return torch.linalg.inv(self._carrier_gram(carriers))
        key = (carriers._version, carriers.device)
        if getattr(self, "_gram_key", None) != key:
            self._gram_cache = torch.linalg.inv(self._carrier_gram(carriers))
            self._gram_key = key
        return self._gram_cache

    def _carrier_gram(self, carriers: torch.Tensor) -> torch.Tensor:
        """The carriers' Gram matrix through the reader's identity reading (informed.carrier_gram)."""
        return carrier_gram(carriers, self.config.work_size, self.extractor.band, self.config.fold_border)

    def _carrier_subspace(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The carriers' carrier_subspace, cached until they change (16 ms; a 60-s clip is read 61 times)."""
        carriers = self.extractor.carriers
        key = (carriers._version, carriers.device)
        if getattr(self, "_subspace_key", None) != key:
            self._subspace_cache = carrier_subspace(carriers)
            self._subspace_key = key
        return self._subspace_cache

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_bits) per-frame logits, calibrated (minus the unmarked-video offset)."""
        work = to_work_grid(frames, self.config.work_size)
        return self.extractor(work, self.config.search_scales) - self._offset()

    def statistics(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame evidence to average over a clip (see WatermarkExtractor.statistics); with a fine
        grid, its tiles follow the work grid's along the rescaling axis (B, 2 n_scales, P, P)."""
        learned, tiles, _ = self.statistics_and_band(frames)
        return learned, tiles

    def statistics_and_band(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """statistics, and the band images they fold on the work grid (B, 1, h, w), which a clip's
        rotated readings fold again turned back (rotated_tiles)."""
        work = to_work_grid(frames, self.config.work_size)
        band = self.extractor.band_image(work)
        scales = self.config.search_scales
        learned, tiles = self.extractor.learned_logits(work), self.extractor.carrier_tiles(band, scales)
        if self.config.fine_grid > 0:
            fine = to_work_grid(frames, round(self.config.work_size * self.config.fine_grid))
            tiles = torch.cat([tiles, self.extractor.carrier_tiles(self.extractor.band_image(fine), scales)], dim=1)
        return learned, tiles, band

    def rotated_tiles(self, band: torch.Tensor, degrees: float) -> torch.Tensor:
        """(B, rotation_scales, P, P) tile statistics of band images (B, 1, h, w) turned back by a rotation
        of `degrees` (counter-clockwise) about their centre, at the first config.rotation_scales
        rescalings. The band is rotation-equivariant (an isotropic window), so turning the band image
        back is turning the frames back; folding is linear, so the clip's mean band image serves."""
        turned = rotate(band, -degrees, interpolation=InterpolationMode.BILINEAR)
        return self.extractor.carrier_tiles(turned, self.config.search_scales[: self.config.rotation_scales])

    def rotated_candidates(self, tiles: torch.Tensor) -> torch.Tensor:
        """(B, config.rotation_peaks) candidate alignments of rotated_tiles, as candidate_alignments'."""
        steps = self.config.search_subpixel_steps
        scores = sign_blind_scores(with_subpixel_phases(tiles, steps), self._carrier_subspace())
        rotation_scales = self.config.search_scales[: self.config.rotation_scales]
        return sign_blind_peaks(scores, self.config.rotation_peaks, steps, tiles.shape[-1], rotation_scales)

    def decide(self, learned: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
        """Calibrated logits from (clip-averaged) statistics."""
        return self.extractor.decide(learned, tiles) - self._offset()

    def candidate_alignments(self, tiles: torch.Tensor, grid_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, 1 + (config.search_peaks [+ config.fine_grid_peaks] [+ config.centred_crop_peaks]) x (2
        config.search_neighbours + 1)^2) candidate alignments, flat indices (scale x sub-pixel phase x
        shift) of a clip's tile statistics: first the identity (no crop or shift: most re-encodes), then
        the highest distinct peaks of sign_blind_scores over every scale, sub-pixel phase and shift of the
        work grid (crops), best first, then those of the fine grid (a picture smaller than the frame), then,
        given the work grid's shape (h, w), the best of centred_crop_alignments, each followed by its
        sub-pixel neighbours. None of them looks at the payload, so the decision's search correction is
        the number of readings."""
        steps = self.config.search_subpixel_steps
        tiles = with_subpixel_phases(tiles, steps)
        batch, period = tiles.shape[0], tiles.shape[-1]
        per_grid = len(self.config.search_scales) * steps * steps * period * period
        scores = sign_blind_scores(tiles, self._carrier_subspace())
        identity = self.identity_alignment(batch, tiles.device)[:, None]
        scales = self.config.search_scales
        candidates = [identity, sign_blind_peaks(scores[:, :per_grid], self.config.search_peaks, steps, period, scales)]
        if scores.shape[1] > per_grid:  # the fine grid's statistics follow the work grid's
            fine = sign_blind_peaks(scores[:, per_grid:], self.config.fine_grid_peaks, steps, period, scales)
            candidates.append(fine + per_grid)
        if grid_shape is not None and self.config.centred_crop_peaks > 0:
            family = self.centred_crop_alignments(grid_shape).to(tiles.device)
            best = scores[:, family].topk(min(self.config.centred_crop_peaks, len(family)), dim=1).indices
            candidates.append(family[best])
        peaks = subpixel_neighbours(torch.cat(candidates[1:], dim=1), steps, period, self.config.search_neighbours)
        return torch.cat([identity, peaks], dim=1)

    def centred_crop_alignments(self, grid_shape: tuple[int, int]) -> torch.Tensor:
        """(n,) flat indices, in candidate_alignments' order, of the work grid's alignment of a centred
        crop at each rescaling s below 1, and of a centred inset (the picture shrunk inside a border) at
        each rescaling above 1 (config.centred_crop_peaks), for a work grid of `grid_shape` (h, w). Either
        keeps the frame's centre, where the pattern's point (h / 2, w / 2) stays; rescaled by s, the
        reading puts it at (s h / 2, s w / 2), so the pattern is shifted by -(1 - s) (h, w) / 2, rounded
        to the nearest sub-pixel step (the neighbours read with it cover the rounding)."""
        steps, period = self.config.search_subpixel_steps, self.extractor.carriers.shape[-1]
        grid = subpixel_grid(steps, period)
        per_scale = steps * steps * period * period
        indices = [
            number * per_scale
            + int(
                grid[
                    -round(steps * (1 - scale) * grid_shape[0] / 2) % (steps * period),
                    -round(steps * (1 - scale) * grid_shape[1] / 2) % (steps * period),
                ]
            )
            for number, scale in enumerate(self.config.search_scales)
            if scale != 1.0
        ]
        return torch.tensor(indices, dtype=torch.long)

    def local_candidates(self, tiles: torch.Tensor) -> torch.Tensor:
        """(B, config.local_search_peaks) candidate alignments of tile statistics (B, n_scales, P, P), in
        candidate_alignments' index order: the work grid's highest distinct sign-blind peaks at whole-pixel
        shifts (no sub-pixel phases, no fine grid), a search cheap enough to make for every second of a
        video. Like candidate_alignments', it never looks at the payload."""
        steps, period = self.config.search_subpixel_steps, tiles.shape[-1]
        work_grid = tiles[:, : len(self.config.search_scales)]
        scores = sign_blind_scores(work_grid, self._carrier_subspace())
        peaks = sign_blind_peaks(scores, self.config.local_search_peaks, 1, period, self.config.search_scales)
        # (scale, shift) -> (scale, phase 0, shift)
        return (peaks // period**2) * steps * steps * period**2 + peaks % period**2

    def identity_alignment(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """(batch,) the flat index, in candidate_alignments' order, of the identity alignment (no
        rescaling, sub-pixel phase or shift): the reading of an unaltered frame."""
        period, steps = self.extractor.carriers.shape[-1], self.config.search_subpixel_steps
        unshifted = self.config.search_scales.index(1.0) * steps * steps * period * period
        return torch.full((batch,), unshifted, dtype=torch.long, device=device)

    def identity_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n_bits) calibrated logits of each frame at the identity alignment (no rescaling, no shift):
        the extractor's bits on a frame, without the reader's search. The search picks its alignment
        blind to the signs, so a per-bit bias of the extractor shows here, at a fraction of the cost."""
        work = to_work_grid(frames, self.config.work_size)
        tiles = self.extractor.carrier_tiles(self.extractor.band_image(work), (1.0,))
        identity = torch.zeros(len(frames), dtype=torch.long, device=frames.device)
        return self.logits_at(self.extractor.learned_logits(work), tiles, identity)

    def logits_at(self, learned: torch.Tensor, tiles: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Calibrated logits (B, n_bits) of (clip-averaged) statistics at alignments (B,) from
        candidate_alignments (those of the whole clip serve its spans: the geometry is the clip's)."""
        period, steps = tiles.shape[-1], self.config.search_subpixel_steps
        shifts, rows = period * period, torch.arange(len(index))
        scale, phase = index // (steps * steps * shifts), (index // shifts) % (steps * steps)
        # Only the chosen rescaling is phase-shifted (a clip is read at 17 alignments, each of its spans
        # at up to 2): its steps^2 phases, not every rescaling's.
        phased = with_subpixel_phases(tiles[rows, scale][:, None], steps)  # (B, steps^2, P, P)
        chosen = weigh_axis_frequencies(phased[rows, phase], self.config.axis_weight)  # (B, P, P)
        correlation = correlations_at(chosen, self.extractor.carriers, index % shifts)
        return learned + self.extractor.log_gain.exp() * correlation - self._offset()
