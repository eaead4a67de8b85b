"""Configuration of the watermark networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WatermarkModelConfig:
    """work_size: embedder and extractor run on the frame resized to this side, so one network serves
    every resolution (the residual is upsampled back to the frame); n_bits: payload length;
    strength: scale of the masked residual (luma units in [0, 1]), calibrated for PSNR after training.
    """

    n_bits: int = 191
    work_size: int = 128
    embedder_width: int = 16
    extractor_width: int = 32
    message_dim: int = 128
    strength: float = 0.012
    # Spread-spectrum carriers: tile period (at work_size) and the rescalings the extractor tries
    # (a crop to 75 % that is viewed at full size has its pattern magnified by 1/0.75).
    carrier_period: int = 32
    # The matched filter reads luma minus its band_box x band_box local mean: a smaller box rejects
    # more of the face (host interference), a larger one keeps more of the carriers' low frequencies.
    # band_range > 0 (8-bit luma levels) makes that mean edge-preserving (watermark.modules.informed.
    # CarrierBand): the face's edges stay out of the reading.
    band_box: int = 17
    band_range: float = 0.0
    # Informed embedding (watermark.modules.informed): minimum matched-filter correlation per bit,
    # and the correction passes that reach it. 0 turns it off (training does: it is not learned).
    informed_margin: float = 0.0
    informed_iterations: int = 4
    # Frames that share one correction (the reader averages over frames; 25 = the 1-second span it
    # also reports on). 1 = every frame on its own.
    informed_group: int = 1
    # Channel-informed passes at inference: each group is encoded with real H.264 at this CRF and
    # decoded, and bits whose correlation after the codec is short of channel_margin are topped up
    # (times channel_gain, since the codec also attenuates the top-up). channel_crf 0 turns it off.
    channel_crf: int = 0
    channel_passes: int = 2
    channel_margin: float = 0.0
    channel_gain: float = 2.0
    # The two margins above are for a picture whose shorter side is margin_sides[0]; at the sides listed
    # they are multiplied by margin_scales (interpolated in log side, held beyond the ends; empty: 1
    # everywhere). A larger picture is read on the same work grid, each of its cells the mean of more
    # pixels, so a codec's noise reaches the reading weaker and the same reliability costs less pattern
    # (SSIM 0.99 at 512 px asks for about 0.8 of the 256 px margins).
    margin_sides: tuple[int, ...] = ()
    margin_scales: tuple[float, ...] = ()
    # x264 preset of the simulated re-encode (platforms mostly use medium; faster presets embed faster).
    channel_preset: str = "medium"
    # Weight of the learned (CNN) branch's logits next to the matched filter's; 0 reads with the
    # matched filter alone and skips the CNN (its training did not include informed embedding).
    learned_weight: float = 1.0
    # Steps of 2.5 %: a crop between two rescalings (78 % between 75 and 80) otherwise drifts by a few
    # pixels across the frame, which at the carriers' 3-pixel wavelengths loses them after a re-encode.
    # The two above 1 read a picture shrunk a little inside the frame (a thin border, a slight zoom out
    # over a fill: 95-99 % of the frame's side), which the fine grid's rescalings do not reach (at most
    # 94 %); after CRF 28 such a picture at 97-98 % read 1 of 8 at 256 px without them. They come last so
    # that the first rotation_scales stay the crops'.
    search_scales: tuple[float, ...] = tuple(round(1.0 - 0.025 * step, 3) for step in range(17)) + (1.025, 1.05)
    # Fractions of a work-grid pixel searched per axis besides whole shifts (2: half pixels), for crops
    # whose offset is not a whole number of work-grid pixels (an odd offset at 256 px).
    search_subpixel_steps: int = 2
    # Distinct peaks of the sign-blind alignment score read besides the identity: the true alignment of a
    # crop + CRF 28 is not always the highest (watermark.modules.carriers.sign_blind_peaks). Each costs a
    # reading (the p-values are multiplied by the readings' number) and a decode (~5 ms).
    search_peaks: int = 16
    # Each peak (work and fine grid) is also read at the alignments within this many sub-pixel steps of
    # it, at its rescaling (0: the peak alone). On a noisy reading the highest score often sits half a
    # pixel beside the true alignment, where the payload reads far better: after a 75 % crop + CRF 28 at
    # 256 px, 3 of 20 clips on one draw failed at their peak and read at p ~1e-11 half a pixel from it.
    search_neighbours: int = 0
    # The matched branch also reads every frame on a grid this many times finer (0: not), at the same
    # rescalings: a picture shown smaller than the frame's shorter side (a 16:9 video fit by width into a
    # 9:16 frame over a blurred copy of itself, a layout with a border) has its pattern shrunk below every
    # rescaling of the work grid, and uniform bars, which could be trimmed, are not there. At 16/9 that
    # most common fit is read at its own scale; the rescalings cover pictures of 56-94 % of the side.
    fine_grid: float = 0.0
    # Distinct peaks read on the fine grid, besides the work grid's search_peaks: its own budget, so that
    # its alignments cannot push a crop's true one out of the work grid's peaks.
    fine_grid_peaks: int = 4
    # Alignments of a centred crop that keeps the frame's aspect (a zoom, the commonest reframing) read
    # besides the peaks: such a crop keeps the frame's centre, so at rescaling s the pattern's centre is
    # (1 - s) / 2 of the work grid from the reading's, whatever the crop's exact fraction. The family has
    # one alignment per rescaling other than 1 (above 1: a centred border); the highest
    # centred_crop_peaks of them by the sign-blind score are read, with their sub-pixel neighbours. On a
    # heavy crop the true alignment's score can lose to the noise maxima of a search over every shift (at
    # 512 px, two centred crops + CRF 28 of 60 ranked 59th and 81st and were not read, though they decode
    # there at p ~1e-17); among 16 it does not.
    centred_crop_peaks: int = 0
    # Weight of the tile's frequencies on the axes (its row and column profiles) in the bit readings; the
    # alignment search reads them at full weight. Unmarked video has row and column structure at the same
    # tile positions in many clips (the frame's borders, a centred face's eyes, mouth and shoulders), which
    # the full matched filter turns into a per-bit bias (max 0.031 over 18,000 unmarked views, 4 bits
    # unfair); the marks themselves hold 8.5 % of the carriers' energy there. 1: the matched filter.
    axis_weight: float = 1.0
    # Pixels along each edge of the work grid left out of its unrescaled fold (rescaling 1: the identity,
    # whole and sub-pixel shifts, the fine grid's own fold and informed embedding's passes, which aim at
    # that reading). The band's local mean is one-sided within band_box // 2 pixels of the frame's edge,
    # and at rescaling 1 those pixels fold onto the same tile rows and columns in every clip: the mean
    # unmarked tile holds 4-5x its energy there, and one of the 191 bits was unfair at 5 % over 274
    # sources. Left out at every rescaling it costs a crop, whose edges hold the mark, 5-25 % of its
    # evidence; at rescaling 1 alone the crops read as before. 0: every pixel folds.
    fold_border: int = 0
    # Rotations read when nothing else detects (degrees; empty: none). Tiles fold along the frame's axes,
    # so a rotation drifts the pattern off them, by a pixel per 64 at 1 degree: a slight rotation (with a
    # zoom that hides the corners) is a cheap, nearly invisible way to strip a periodic mark. The clip's
    # mean band image is turned back by each angle and folded at the first rotation_scales rescalings;
    # rotation_peaks distinct peaks are read at each angle.
    rotation_angles: tuple[float, ...] = ()
    rotation_scales: int = 7
    rotation_peaks: int = 2
    # Distinct peaks read per orientation where a video's runs of two spans are searched for an alignment
    # of their own (0: not): an excerpt reframed before it was spliced into other footage (a generated
    # clip zoomed to fill the frame) has a geometry the rest of the video does not share, and is diluted
    # in the average where the video's alignments are found. A cheaper search than the clip's, since it is
    # made once per second: the work grid's whole-pixel shifts only (an eighth of the transforms).
    local_search_peaks: int = 0

    def __post_init__(self) -> None:
        if len(self.margin_sides) != len(self.margin_scales):
            raise ValueError(
                f"margin_sides and margin_scales must have the same length, got {len(self.margin_sides)} "
                f"and {len(self.margin_scales)}"
            )
        if self.fold_border < 0 or 2 * self.fold_border >= self.carrier_period:
            raise ValueError(f"fold_border must be in [0, carrier_period / 2), got {self.fold_border}")
        # np.interp needs increasing sides, and would answer anything for others without a word.
        if any(side <= 0 for side in self.margin_sides) or list(self.margin_sides) != sorted(set(self.margin_sides)):
            raise ValueError(f"margin_sides must be positive and increasing, got {list(self.margin_sides)}")

    def margin_scale(self, side: int) -> float:
        """Factor on the informed and channel margins for a picture whose shorter side is `side` px."""
        if not self.margin_sides:
            return 1.0
        return float(np.interp(np.log(side), np.log(self.margin_sides), self.margin_scales))
