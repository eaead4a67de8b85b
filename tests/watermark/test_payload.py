from __future__ import annotations

import math

import numpy as np
import pytest

from watermark.payload import DETECTION_P_VALUE, PayloadCodec, new_generation_id, parse_generation_id

codec = PayloadCodec()


def _scores(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.float64) * 2 - 1


def test_round_trip_and_layout():
    generation_id = new_generation_id()
    bits = codec.encode(generation_id)
    assert bits.shape == (codec.n_bits,) and codec.n_bits == 64 + 64 + 63
    reading = codec.decode(_scores(bits))
    assert reading.detected and reading.id == generation_id and reading.corrected == 0
    assert reading.key_matches == 64 and reading.p_value == pytest.approx(2.0**-64)


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


def test_p_value_is_the_exact_binomial_tail():
    scores = _scores(codec.encode(new_generation_id()))
    scores[:10] *= -1  # 10 of the 64 key bits wrong -> 54 match
    reading = codec.decode(scores)
    expected = sum(math.comb(64, k) for k in range(54, 65)) / 2**64
    assert reading.key_matches == 54
    assert reading.p_value == pytest.approx(expected, rel=1e-9)
    assert reading.detected == (expected < DETECTION_P_VALUE)


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
