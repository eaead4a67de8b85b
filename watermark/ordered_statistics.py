"""Ordered-statistics decoding (Fossorier & Lin 1995) of a binary linear block code from soft scores.

An algebraic decoder corrects up to t errors wherever they are. A watermark's errors are not
anywhere: they sit mostly on the bits the reader was least sure of. Ordered-statistics decoding uses
that: it takes the k most reliable independent positions, trusts their hard decisions (re-encoding
them gives one codeword), and also tries every way of flipping up to `order` of them; the candidate
that disagrees with the scores least, weighted by reliability, wins. With order 2 it finds the
embedded codeword whenever at most two of the k most reliable positions are wrong, however many of
the others are.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OrderedStatisticsResult:
    """codeword: (n,) uint8; distance: bits where it differs from the hard decisions."""

    codeword: np.ndarray
    distance: int


class OrderedStatisticsDecoder:
    """For the code spanned by the rows of `generator` ((k, n) in {0, 1}, full rank)."""

    def __init__(self, generator: np.ndarray, order: int = 2) -> None:
        self.generator = np.asarray(generator, dtype=np.uint8)
        self.k, self.n = self.generator.shape
        # Every flip pattern of at most `order` of the k trusted positions, as rows (patterns, k).
        patterns = [combo for size in range(order + 1) for combo in itertools.combinations(range(self.k), size)]
        self._flips = np.zeros((len(patterns), self.k), dtype=np.uint8)
        for row, combo in enumerate(patterns):
            self._flips[row, list(combo)] = 1

    def decode(self, scores: np.ndarray, extra: np.ndarray | None = None) -> OrderedStatisticsResult:
        """Soft scores (n,), positive meaning bit 1 -> the best candidate codeword; `extra` (n,) is a
        codeword found otherwise (e.g. by an algebraic decoder), competing with the enumerated ones."""
        scores = np.asarray(scores, dtype=np.float64)
        hard = (scores > 0).astype(np.uint8)
        reliability = np.abs(scores)
        by_reliability = np.argsort(-reliability, kind="stable")
        systematic, trusted = _systematic_on_most_reliable(self.generator[:, by_reliability])
        base = hard[by_reliability][trusted]
        # GF(2) products as float sums (exact: at most k ones) so the product runs on BLAS.
        sums = (base ^ self._flips).astype(np.float32) @ systematic.astype(np.float32)
        candidates = (sums.astype(np.int32) & 1).astype(np.float32)  # (patterns, n) in {0, 1}, reordered
        if extra is not None:
            candidates = np.vstack([candidates, np.asarray(extra, dtype=candidates.dtype)[by_reliability]])
        # Reliability-weighted disagreement with the hard decisions, sum |s| [c != s > 0], as one product:
        # (sum |s| + sum (1 - 2c) s) / 2 (a bit that agrees adds |s| - |s|, one that disagrees 2 |s|).
        ordered = scores[by_reliability].astype(np.float32)
        disagreement = (reliability.sum() + ordered.sum()) / 2 - candidates @ ordered
        codeword = np.empty(self.n, dtype=np.uint8)
        codeword[by_reliability] = candidates[int(np.argmin(disagreement))].astype(np.uint8)
        return OrderedStatisticsResult(codeword, int(np.sum(codeword != hard)))


def _systematic_on_most_reliable(generator: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Gaussian elimination over GF(2) taking pivot columns from the left (the most reliable first):
    (k, n) generator of the same code with an identity on the returned k pivot columns."""
    matrix = generator.copy()
    rows = matrix.shape[0]
    pivots: list[int] = []
    for column in range(matrix.shape[1]):
        row = len(pivots)
        if row == rows:
            break
        candidates = np.flatnonzero(matrix[row:, column])
        if len(candidates) == 0:  # dependent on the columns already taken
            continue
        pivot = row + candidates[0]
        matrix[[row, pivot]] = matrix[[pivot, row]]
        others = np.flatnonzero(matrix[:, column])
        others = others[others != row]
        matrix[others] ^= matrix[row]
        pivots.append(column)
    return matrix, pivots
