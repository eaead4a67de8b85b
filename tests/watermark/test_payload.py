from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from watermark.ordered_statistics import OrderedStatisticsDecoder
from watermark.payload import (
    DETECTION_P_VALUE,
    PayloadCodec,
    _log_signed_rank_cdf,
    new_generation_id,
    parse_generation_id,
)

codec = PayloadCodec()


def _scores(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.float64) * 2 - 1


def test_round_trip_and_layout():
    generation_id = new_generation_id()
    bits = codec.encode(generation_id)
    assert bits.shape == (codec.n_bits,) and codec.n_bits == 64 + 63 + 64
    reading = codec.decode(_scores(bits))
    assert reading.detected and reading.id == generation_id and reading.corrected == 0
    # The best fit possible: distance 0 -> 2 x 2^64 / 2^191 (two statistics, 2^64 codewords).
    assert reading.p_value == pytest.approx(2.0**-126)


def test_every_bit_carries_the_id():
    """The check bits are a linear function of the ID: the code is linear, of dimension 64."""
    first, second = new_generation_id(), new_generation_id()
    xor = f"{int(first, 16) ^ int(second, 16):016x}"
    unwhitened = [codec.encode(value) ^ codec.mask for value in (first, second, xor)]
    assert np.array_equal(unwhitened[0] ^ unwhitened[1], unwhitened[2])
    assert np.linalg.matrix_rank(codec.generator.astype(float)) == 64


@pytest.mark.parametrize("errors", [1, 5, 10])
def test_confident_errors_anywhere_are_corrected(errors):
    """Errors with the same confidence as the right bits: no help from soft information (BCH decodes,
    and the Hamming distance carries the evidence: p ~ 1e-22 at 10 errors)."""
    rng = np.random.default_rng(errors)
    for _ in range(10):
        generation_id = new_generation_id()
        scores = _scores(codec.encode(generation_id))
        scores[rng.choice(codec.n_bits, errors, replace=False)] *= -1
        reading = codec.decode(scores)
        assert reading.detected and reading.id == generation_id and reading.corrected == errors


def test_errors_on_unreliable_bits_are_corrected_far_beyond_the_bch_radius():
    """40 of 191 bits wrong (21 %), all of them less confident than the right ones: ordered statistics
    finds the codeword and the signed-rank statistic carries the evidence."""
    rng = np.random.default_rng(5)
    for _ in range(10):
        generation_id = new_generation_id()
        scores = _scores(codec.encode(generation_id)) * rng.uniform(1.0, 3.0, codec.n_bits)
        wrong = rng.choice(codec.n_bits, 40, replace=False)
        scores[wrong] = -rng.uniform(0.05, 0.3, 40) * np.sign(scores[wrong])
        reading = codec.decode(scores)
        assert reading.detected and reading.id == generation_id and reading.corrected == 40


def test_p_value_is_the_better_of_the_distance_and_signed_rank_bounds():
    codeword = codec.encode(new_generation_id()) ^ codec.mask
    scores = np.arange(1, codec.n_bits + 1, dtype=float) * (codeword * 2.0 - 1)  # reliability = rank
    # Disagreements on the ranks 1, 2, 3: W = 6, d = 3.
    scores[np.argsort(np.abs(scores))[:3]] *= -1
    n = codec.n_bits
    rank_tail = sum(_signed_rank_counts(n)[: 6 + 1]) / 2**n
    distance_tail = sum(math.comb(n, k) for k in range(4)) / 2**n
    assert rank_tail < distance_tail
    assert codec.fit_p_value(scores, codeword) == pytest.approx(2 * 2**64 * rank_tail, rel=1e-9)
    # The same disagreements on the most reliable bits: the distance bound is the better one.
    worst = np.arange(1, n + 1, dtype=float) * (codeword * 2.0 - 1)
    worst[np.argsort(np.abs(worst))[-3:]] *= -1
    assert codec.fit_p_value(worst, codeword) == pytest.approx(2 * 2**64 * distance_tail, rel=1e-9)
    # Decoding reports it for the whitened reading, and the search correction multiplies it.
    whitened = np.where(codec.mask == 1, -scores, scores)
    reading, searched = codec.decode(whitened), codec.decode(whitened, trials=7)
    assert reading.id is not None and reading.corrected == 3
    assert searched.p_value == pytest.approx(7 * reading.p_value, rel=1e-12)
    assert reading.detected == (reading.p_value < DETECTION_P_VALUE)


def _signed_rank_counts(n: int) -> list[int]:
    """Exact counts of sign patterns of n ranks per disagreement sum W (integer arithmetic)."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    return counts


def test_signed_rank_tail_matches_exact_counts():
    for n in (5, 12, 191):
        exact = np.array([total / 2**n for total in itertools.accumulate(_signed_rank_counts(n))])
        computed = np.exp(_log_signed_rank_cdf(n))
        assert np.allclose(computed, exact, rtol=1e-9, atol=0)


def test_p_value_bounds_unmarked_readings():
    """On unmarked scores (fair independent bits) the p-value is conservative: P(p <= a) <= a."""
    rng = np.random.default_rng(3)
    values = np.array([codec.decode(rng.normal(size=codec.n_bits)).p_value for _ in range(800)])
    for level in (0.5, 0.9):
        assert np.mean(values <= level) <= level + 3 * np.sqrt(level / 800)


def test_readings_without_evidence_fit_nothing():
    """All-zero scores (no signal at all) have the all-zero word as hard decisions, which is the
    codeword of the ID 0 before whitening: zeros count as disagreements, so it is not a detection."""
    reading = codec.decode(np.zeros(codec.n_bits))
    assert not reading.detected and reading.id is None and reading.p_value == 1.0


def test_ordered_statistics_decoder_finds_the_nearest_codeword_of_a_small_code():
    # The (7, 4) Hamming code: every word is within one bit of exactly one codeword.
    generator = np.array([[1, 0, 0, 0, 1, 1, 0], [0, 1, 0, 0, 1, 0, 1], [0, 0, 1, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 1]])
    decoder = OrderedStatisticsDecoder(generator, order=2)
    codewords = {tuple(np.array(bits) @ generator % 2) for bits in np.ndindex(2, 2, 2, 2)}
    rng = np.random.default_rng(6)
    for _ in range(50):
        codeword = np.array(list(codewords)[rng.integers(16)])
        scores = (codeword * 2.0 - 1) * rng.uniform(0.5, 2, 7)
        flip = rng.integers(7)
        scores[flip] *= -0.1
        result = decoder.decode(scores)
        assert tuple(result.codeword) in codewords and np.array_equal(result.codeword, codeword)
        assert result.distance == 1
    # Order 0 trusts the four most reliable bits: their re-encoding is the only candidate.
    single = OrderedStatisticsDecoder(generator, order=0).decode(np.array([3.0, -3, 3, -3, 0.1, 0.1, 0.1]))
    assert np.array_equal(single.codeword, [1, 0, 1, 0, 1, 0, 1])


def test_unmarked_scores_are_never_detected():
    rng = np.random.default_rng(1)
    detections = sum(codec.decode(rng.normal(size=codec.n_bits)).detected for _ in range(1000))
    assert detections == 0


def test_whitened_bits_are_unbiased_whatever_the_id():
    mean = np.mean([codec.encode(new_generation_id()) for _ in range(400)], axis=0)
    # Whitening makes every position's mean ~0.5 over IDs, the all-zero ID's word included.
    assert abs(float(mean.mean()) - 0.5) < 0.05
    assert abs(float(codec.encode("0" * 16).mean()) - 0.5) < 0.1


def test_generation_ids_are_validated():
    assert parse_generation_id("0X00AABBCCDDEEFF11") == "00aabbccddeeff11"
    with pytest.raises(ValueError, match="16 hex digits"):
        parse_generation_id("123")
    with pytest.raises(ValueError):
        codec.decode(np.zeros(5))


def test_ordered_statistics_picks_the_best_of_every_flip_of_up_to_order_trusted_bits():
    """The decoder scores candidates through products of the rows' signs; the same choice as building
    every candidate codeword and scoring it."""
    rng = np.random.default_rng(11)
    generator = rng.integers(0, 2, size=(8, 23))
    generator[:, :8] = np.eye(8, dtype=int)  # full rank
    for order in (0, 1, 2):
        decoder = OrderedStatisticsDecoder(generator, order=order)
        for _ in range(40):
            scores = rng.normal(size=23)
            by_reliability = np.argsort(-np.abs(scores), kind="stable")
            hard = (scores > 0).astype(np.uint8)
            # Brute force: the trusted positions are the first k independent ones by reliability.
            trusted, rank_matrix = [], np.zeros((0, 8), dtype=np.uint8)
            for column in by_reliability:
                candidate = np.vstack([rank_matrix, generator[:, column]])
                if _gf2_rank(candidate) > len(rank_matrix):
                    rank_matrix, trusted = candidate, trusted + [column]
                if len(trusted) == 8:
                    break
            codewords = np.array([np.array(bits) @ generator % 2 for bits in itertools.product((0, 1), repeat=8)])
            flips = ((codewords[:, trusted] != hard[trusted]).sum(axis=1)) <= order
            fits = (codewords[flips] * 2.0 - 1) @ scores
            best = codewords[flips][int(np.argmax(fits))]
            assert np.array_equal(decoder.decode(scores).codeword, best)
    with pytest.raises(ValueError, match="order"):
        OrderedStatisticsDecoder(generator, order=3)


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_ordered_statistics_decodes_on_one_blas_thread_and_leaves_the_process_setting_alone(monkeypatch):
    """Its products are too small for threads (a pool woken per decode cost 16 ms instead of 0.9 on a
    busy 2-core machine); the cap is its own, not the process's."""

    decoder = OrderedStatisticsDecoder(codec.generator)
    during = []
    decode = decoder._decode
    monkeypatch.setattr(decoder, "_decode", lambda *args: during.append(_blas_threads()) or decode(*args))
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        result = decoder.decode(_scores(codec.generator[3] ^ codec.generator[7]))
        assert _blas_threads() == before
    assert before and all(count == 1 for count in during[0]) and len(during) == 1
    assert result.distance == 0


def test_decodes_overlapping_in_two_threads_leave_the_process_setting_as_they_found_it(monkeypatch):
    """OpenBLAS's pthreads pool is the process's. Two decodes started so that they would overlap, the first
    ending first, must leave its thread count as it was: a cap saved and restored by each decode on its
    own would end at 1 (the second saves the first's cap and restores it last). The decoder makes them
    take turns, so the first waits out its second (1 s) and then ends before the second starts."""

    first, second = OrderedStatisticsDecoder(codec.generator), OrderedStatisticsDecoder(codec.generator)
    first_started, second_started, first_ended = threading.Event(), threading.Event(), threading.Event()
    seen_by_first = []
    decode_first, decode_second = first._decode, second._decode

    def first_decode(*args):
        seen_by_first.append(_blas_threads())
        first_started.set()
        second_started.wait(1)
        return decode_first(*args)

    def second_decode(*args):
        second_started.set()
        first_ended.wait(1)
        return decode_second(*args)

    def run_first():
        first.decode(scores)
        first_ended.set()

    monkeypatch.setattr(first, "_decode", first_decode)
    monkeypatch.setattr(second, "_decode", second_decode)
    scores = _scores(codec.generator[2])
    before = _blas_threads()
    threads = [threading.Thread(target=run_first), threading.Thread(target=second.decode, args=(scores,))]
    threads[0].start()
    assert first_started.wait(10)
    threads[1].start()
    for thread in threads:
        thread.join(10)
    assert _blas_threads() == before
    assert seen_by_first and all(count == 1 for count in seen_by_first[0])


def _gf2_rank(matrix: np.ndarray) -> int:
    matrix, rank = matrix.copy() % 2, 0
    for column in range(matrix.shape[1]):
        pivots = np.flatnonzero(matrix[rank:, column])
        if len(pivots) == 0:
            continue
        matrix[[rank, rank + pivots[0]]] = matrix[[rank + pivots[0], rank]]
        others = np.flatnonzero(matrix[:, column])
        matrix[others[others != rank]] ^= matrix[rank]
        rank += 1
        if rank == matrix.shape[0]:
            break
    return rank
