"""Ordered-statistics decoding (Fossorier & Lin 1995) of a binary linear block code from soft scores.

An algebraic decoder corrects up to t errors wherever they are. A watermark's errors are not
anywhere: they sit mostly on the bits the reader was least sure of. Ordered-statistics decoding uses
that: it takes the k most reliable independent positions, trusts their hard decisions (re-encoding
them gives one codeword), and also tries every way of flipping up to `order` of them; the candidate
that disagrees with the scores least, weighted by reliability, wins. With order 2 it finds the
embedded codeword whenever at most two of the k most reliable positions are wrong, however many of
the others are.

The candidates are never built one by one. With signs sigma(x) = 1 - 2x, XOR is a product:
sigma(c0 ^ r_i ^ r_j) = sigma(c0) sigma(r_i) sigma(r_j), where c0 re-encodes the trusted hard decisions
and r_i is the systematic generator's row for trusted position i. So a candidate's fit to the scores,
sum_b s_b (2 c_b - 1), is -sum_b w_b sigma(r_i)_b sigma(r_j)_b with w = s sigma(c0): every pair's fit is
one entry of the (k, k) product R diag(w) R^T of the rows' signs R, every single flip's one entry of
R w. That is about k^2 n operations instead of a (2,081, k) x (k, n) product for order 2.

Products this small never gain from BLAS threads, and waking the thread pool for each costs far more
than the product: a reader's decision makes ~390 decodes, 16 ms each with OpenBLAS's threads on a
busy 2-core machine against 0.9 ms on one thread (between the reader's torch work on a quiet one: 4.7
against 1.8 ms). So the decoder runs BLAS on one thread, and restores the setting it found.
OpenBLAS's pthreads pool is the process's, so decodes in several threads take turns: overlapping, one
would save the other's cap as the setting to restore, and leave the process on one BLAS thread.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController


@dataclass(frozen=True)
class OrderedStatisticsResult:
    """codeword: (n,) uint8; distance: bits where it differs from the hard decisions."""

    codeword: np.ndarray
    distance: int


class OrderedStatisticsDecoder:
    """For the code spanned by the rows of `generator` ((k, n) in {0, 1}, full rank); order 0, 1 or 2."""

    def __init__(self, generator: np.ndarray, order: int = 2) -> None:
        if order not in (0, 1, 2):
            raise ValueError(f"ordered-statistics order must be 0, 1 or 2, got {order}")
        self.generator = np.asarray(generator, dtype=np.uint8)
        self.k, self.n = self.generator.shape
        self.order = order
        # The pairs (i < j) of trusted positions, the same for every reading.
        self._pairs = np.triu_indices(self.k, 1)

    def decode(self, scores: np.ndarray, extra: np.ndarray | None = None) -> OrderedStatisticsResult:
        """Soft scores (n,), positive meaning bit 1 -> the best candidate codeword; `extra` (n,) is a
        codeword found otherwise (e.g. by an algebraic decoder), competing with the enumerated ones."""
        with _ONE_AT_A_TIME, _thread_pools().limit(limits=1, user_api="blas"):
            return self._decode(scores, extra)

    def _decode(self, scores: np.ndarray, extra: np.ndarray | None) -> OrderedStatisticsResult:
        scores = np.asarray(scores, dtype=np.float64)
        hard = (scores > 0).astype(np.uint8)
        by_reliability = np.argsort(-np.abs(scores), kind="stable")
        systematic, trusted = _systematic_on_most_reliable(self.generator[:, by_reliability])
        base = hard[by_reliability][trusted]
        # GF(2) product as a float sum (exact: at most k ones) so that it runs on BLAS.
        reencoded = ((base.astype(np.float64) @ systematic).astype(np.int64) & 1).astype(np.uint8)
        ordered = scores[by_reliability]
        weights = ordered * (1 - 2.0 * reencoded)
        rows = 1 - 2.0 * systematic  # (k, n) signs of the trusted positions' rows
        # Fit of a candidate: sum s (2c - 1), the larger the closer; its trusted positions flipped.
        best_fit, best_flips = -float(weights.sum()), ()
        if self.order >= 1:
            singles = -(rows @ weights)
            if singles.max() > best_fit:
                best_fit, best_flips = float(singles.max()), (int(singles.argmax()),)
        if self.order == 2:
            pair_fits = (-(rows * weights) @ rows.T)[self._pairs]
            chosen = int(pair_fits.argmax())
            if pair_fits[chosen] > best_fit:
                first, second = self._pairs[0][chosen], self._pairs[1][chosen]
                best_fit, best_flips = float(pair_fits[chosen]), (int(first), int(second))
        for position in best_flips:
            reencoded ^= systematic[position]
        codeword = np.empty(self.n, dtype=np.uint8)
        codeword[by_reliability] = reencoded
        if extra is not None and float(np.sum(scores * (2.0 * np.asarray(extra) - 1))) > best_fit:
            codeword = np.asarray(extra, dtype=np.uint8).copy()
        return OrderedStatisticsResult(codeword, int(np.sum(codeword != hard)))


_ONE_AT_A_TIME = threading.Lock()


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's native thread pools (BLAS among them), inspected once: a fresh inspection per
    decode would cost about as much as the decode."""
    return ThreadpoolController()


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
