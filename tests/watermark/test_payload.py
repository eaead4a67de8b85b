from __future__ import annotations

import math

import numpy as np
import pytest

from watermark.ordered_statistics import OrderedStatisticsDecoder
from watermark.payload import (
    DETECTION_P_VALUE,
    PayloadCodec,
    combined_p_value,
    new_generation_id,
    parse_generation_id,
)

codec = PayloadCodec()


def _scores(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.float64) * 2 - 1


def test_round_trip_and_layout():
    generation_id = new_generation_id()
    bits = codec.encode(generation_id)
    assert bits.shape == (codec.n_bits,) and codec.n_bits == 64 + 64 + 63
    reading = codec.decode(_scores(bits))
    assert reading.detected and reading.id == generation_id and reading.corrected == 0
    assert reading.key_matches == 64 and reading.key_p_value == pytest.approx(2.0**-64)
    assert reading.codeword_p_value == pytest.approx(2.0**-63)
    assert reading.p_value == pytest.approx(combined_p_value(2.0**-64, 2.0**-63))


@pytest.mark.parametrize("errors", [1, 5, 10])
def test_codeword_errors_up_to_the_bch_limit_are_corrected(errors):
    rng = np.random.default_rng(errors)
    for _ in range(20):
        generation_id = new_generation_id()
        scores = _scores(codec.encode(generation_id))
        flipped = rng.choice(np.arange(64, codec.n_bits), errors, replace=False)
        scores[flipped] *= -1  # confident errors: no help from soft information
        reading = codec.decode(scores)
        assert reading.detected and reading.id == generation_id and reading.corrected == errors


def test_beyond_the_limit_no_wrong_id_is_reported():
    rng = np.random.default_rng(0)
    wrong = 0
    for _ in range(100):
        generation_id = new_generation_id()
        scores = _scores(codec.encode(generation_id))
        scores[rng.choice(np.arange(64, codec.n_bits), 20, replace=False)] *= -1
        reading = codec.decode(scores)
        wrong += reading.id is not None and reading.id != generation_id
    assert wrong == 0


def test_p_value_combines_the_binomial_key_tail_with_the_codeword_distance():
    scores = _scores(codec.encode(new_generation_id()))
    scores[:10] *= -1  # 10 of the 64 key bits wrong -> 54 match
    scores[70:75] *= -1  # 5 codeword bits wrong
    reading = codec.decode(scores, trials=7)
    key_tail = sum(math.comb(64, k) for k in range(54, 65)) / 2**64
    # 2^64 codewords, each with a ball of radius 5 in the 2^127 words of the codeword's length.
    codeword_tail = sum(math.comb(127, k) for k in range(6)) / 2**63
    assert reading.key_matches == 54 and reading.corrected == 5
    assert reading.key_p_value == pytest.approx(key_tail, rel=1e-9)
    assert reading.codeword_p_value == pytest.approx(codeword_tail, rel=1e-9)
    product = key_tail * codeword_tail
    assert reading.p_value == pytest.approx(7 * product * (1 - math.log(product)), rel=1e-9)
    assert reading.detected == (reading.p_value < DETECTION_P_VALUE)


def test_combined_p_value_is_uniform_under_the_null():
    """P(t (1 - ln t) <= a) = a for t the product of two independent uniform p-values."""
    rng = np.random.default_rng(0)
    values = np.array([combined_p_value(a, b) for a, b in rng.random((20_000, 2))])
    for level in (0.01, 0.05, 0.2, 0.5):
        assert abs(np.mean(values <= level) - level) < 4 * np.sqrt(level / 20_000) + 1e-3
    assert combined_p_value(1.0, 1.0) == 1.0 and combined_p_value(0.0, 0.5) == 0.0


def test_codeword_p_value_bounds_random_words_decoding():
    """A random word lies within d bits of some codeword at most as often as the bound says."""
    assert codec.codeword_p_value(0) == pytest.approx(2.0**-63)
    assert codec.codeword_p_value(10) == pytest.approx(2.475e-5, rel=1e-3)
    assert codec.codeword_p_value(40) == 1.0
    rng = np.random.default_rng(3)
    decoded = [codec.decode(rng.normal(size=codec.n_bits)).corrected for _ in range(1500)]
    within_limit = sum(d is not None for d in decoded)
    assert within_limit / 1500 <= codec.codeword_p_value(12) * 3 + 0.004  # bound 2.6e-3, a few hits allowed


def test_detected_mark_whose_id_is_lost_is_reported_without_an_id():
    scores = _scores(codec.encode(new_generation_id()))
    scores[64:] = 0.01 * np.random.default_rng(4).normal(size=codec.n_bits - 64)  # the codeword is noise
    reading = codec.decode(scores)
    assert reading.detected and reading.id is None and reading.codeword_p_value is None
    assert reading.p_value == pytest.approx(combined_p_value(2.0**-64, 1.0))


def test_ordered_statistics_recover_errors_beyond_the_bch_limit_on_unreliable_bits():
    rng = np.random.default_rng(5)
    for _ in range(10):
        generation_id = new_generation_id()
        scores = _scores(codec.encode(generation_id)) * rng.uniform(1.0, 3.0, codec.n_bits)
        wrong = rng.choice(np.arange(64, codec.n_bits), 16, replace=False)
        scores[wrong] = -0.2 * scores[wrong] / np.abs(scores[wrong])  # 16 errors, all low-confidence
        reading = codec.decode(scores)
        assert reading.detected and reading.id == generation_id and reading.corrected == 16


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
        assert result.distance == 1 and result.margin > 0
    # Order 0 trusts the four most reliable bits: one candidate, so no runner-up.
    single = OrderedStatisticsDecoder(generator, order=0).decode(np.array([3.0, -3, 3, -3, 0.1, 0.1, 0.1]))
    assert np.array_equal(single.codeword, [1, 0, 1, 0, 1, 0, 1]) and single.margin == float("inf")


def test_unmarked_scores_are_never_detected():
    rng = np.random.default_rng(1)
    detections = sum(codec.decode(rng.normal(size=codec.n_bits)).detected for _ in range(3000))
    assert detections == 0


def test_whitened_bits_are_unbiased_whatever_the_id():
    mean = np.mean([codec.encode(new_generation_id()) for _ in range(400)], axis=0)
    # Whitening makes every position's mean ~0.5 over IDs except the fixed key, which the mask randomises.
    assert abs(float(mean.mean()) - 0.5) < 0.05
    assert abs(float(codec.encode("0" * 16).mean()) - 0.5) < 0.1


def test_generation_ids_are_validated():
    assert parse_generation_id("0X00AABBCCDDEEFF11") == "00aabbccddeeff11"
    with pytest.raises(ValueError, match="16 hex digits"):
        parse_generation_id("123")
    with pytest.raises(ValueError):
        codec.decode(np.zeros(5))
