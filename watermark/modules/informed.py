"""Informed embedding (improved spread spectrum, Malvar & Florencio 2003) for the matched branch.

A still face barely changes between frames, so its own projection on the carriers (host interference)
does not average out over a clip; at 44 dB it drowns the network's pattern. The embedder knows the
frames, so it can measure that projection and add, per bit, just enough carrier energy that the
extractor's correlation has the payload's sign with a margin: bits already past the margin cost
nothing. The extractor's statistics are linear in the frame, so the correction is a small linear
solve (the Gram matrix of the carriers through the extractor's band filter).

The reader averages statistics over frames, so what has to reach the margin is the mean over a group
of consecutive frames (one second: a span the reader reports on its own), not every frame: one static
correction per group costs the group's mean host projection instead of each frame's, and a static
pattern is what a codec's inter frames carry along best. Measuring the correlations after a real
encode of the group (channel-informed embedding) lets the correction also cover what the codec takes
away.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from watermark.modules.carriers import fold_tiles


def carrier_band(luma: torch.Tensor, box: int) -> torch.Tensor:
    """The matched branch's band: luma minus its box x box local mean (box odd).

    The box mean is taken as two 1-D means (the same numbers, with the border counts of a 2-D box being
    the product of the 1-D ones), box / 2 times fewer operations."""
    if box % 2 == 0:
        raise ValueError(f"the band's box must be odd, got {box}")
    half = box // 2
    rows = F.avg_pool2d(luma, (1, box), stride=1, padding=(0, half), count_include_pad=False)
    return luma - F.avg_pool2d(rows, (box, 1), stride=1, padding=(half, 0), count_include_pad=False)


def tile_correlations(luma: torch.Tensor, carriers: torch.Tensor, box: int) -> torch.Tensor:
    """(B, 1, S, S) luma at work size -> (B, n_bits) correlation with each carrier at zero shift."""
    period = carriers.shape[-1]
    tile = fold_tiles(carrier_band(luma, box), period)
    return torch.einsum("bpq,npq->bn", tile, carriers) / period**2


def tiled(patterns: torch.Tensor, size: int) -> torch.Tensor:
    """(B, P, P) -> (B, 1, size, size) periodic tiling from the origin."""
    reps = -(-size // patterns.shape[-1])
    return patterns.repeat(1, reps, reps)[:, None, :size, :size]


def carrier_gram(carriers: torch.Tensor, size: int, box: int) -> torch.Tensor:
    """G[i, j] = correlation with carrier i of carrier j tiled over a size x size frame."""
    return tile_correlations(tiled(carriers, size), carriers, box).T


def group_means(values: torch.Tensor, group: int) -> torch.Tensor:
    """(B, ...) -> (B, ...): every row replaced by the mean of its group of `group` consecutive rows."""
    means = [chunk.mean(0, keepdim=True).expand_as(chunk) for chunk in values.split(group)]
    return torch.cat(means)


def informed_correction(
    correlations: torch.Tensor,
    bits: torch.Tensor,
    carriers: torch.Tensor,
    gram_inverse: torch.Tensor,
    margin: float,
    size: int,
) -> torch.Tensor:
    """(B, 1, size, size) additive luma correction at work size that moves every bit's measured
    correlation (B, n_bits) to sign(bit) x margin or beyond (bits in {0, 1})."""
    signs = bits * 2 - 1
    shortfall = signs * torch.clamp(margin - signs * correlations, min=0)
    amplitudes = shortfall @ gram_inverse.T
    return tiled(torch.einsum("bn,npq->bpq", amplitudes, carriers), size)
