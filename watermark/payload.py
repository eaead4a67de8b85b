"""The watermark payload: a detection key and a BCH-protected 64-bit generation ID, whitened.

Layout of the N = key_bits + 64 + parity bits carried by every frame (before whitening):
    [ detection key (64 bits) | generation ID (64 bits) | BCH parity (63 bits, t = 10) ]
The detection key is a fixed pseudo-random pattern derived from the watermark secret; on an unmarked
video each of its bits matches with probability 1/2, so the number of matching key bits gives an
exact binomial p-value for "this video carries a Candor watermark". The ID is protected by a BCH code
over GF(2^7) (the Linux kernel implementation, via bchlib) that corrects 10 bit errors, with a Chase
search over the least reliable bits when hard decoding fails and, beyond that, ordered-statistics
decoding (watermark.ordered_statistics) where the key shows the mark is there. All bits are XORed with a secret
pseudo-random mask, so payload bits are unbiased whatever the ID and key look like.

The decoded codeword is evidence too: a random 127-bit word lies within d bits of one of the 2^64
codewords with probability at most 2^64 V(127, d) / 2^127 (V: the volume of a Hamming ball; 2.5e-5
at d = 10, 3.7e-14 at d = 3), and on unmarked video the codeword bits are independent of the key
bits. The two p-values are combined as Fisher-style products (P(p1 p2 <= t) = t (1 - ln t) for
independent uniform p-values), so a clip whose key is a little noisy but whose codeword is clean is
still detected, without raising the false-positive bound.

The C2PA soft-binding assertion names the algorithm below and carries the ID, so a platform that
extracts the watermark can find the manifest even after the file's metadata was stripped.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import re
import secrets
from dataclasses import dataclass

import bchlib
import numpy as np
from scipy.stats import binom

from watermark.ordered_statistics import OrderedStatisticsDecoder

GENERATION_ID_BITS = 64
SOFT_BINDING_ALG = "com.candor.watermark.v1"
DETECTION_P_VALUE = 1e-6
# The detection secret is public by design: anyone may check a video for Candor's watermark.
DEFAULT_SECRET = b"candor-watermark-v1-public-detection-key"
# A word this close to a codeword (6 bits: 5.8e-10 for a random word) cannot be a miscorrection in
# practice: the confirmation by ordered statistics is skipped (most readings; it costs milliseconds).
_UNAMBIGUOUS_CODEWORD = 1e-9
_HEX_ID = re.compile(r"^[0-9a-f]{16}$")


def new_generation_id() -> str:
    """A fresh random generation ID (16 hex digits)."""
    return secrets.token_hex(GENERATION_ID_BITS // 8)


def parse_generation_id(value: str) -> str:
    """Normalise and validate a generation ID; ValueError names the problem."""
    normalised = value.strip().lower().removeprefix("0x")
    if not _HEX_ID.match(normalised):
        raise ValueError(f"generation ID must be {GENERATION_ID_BITS // 4} hex digits, got {value!r}")
    return normalised


@dataclass(frozen=True)
class PayloadConfig:
    key_bits: int = 64
    bch_t: int = 10
    bch_m: int = 7
    chase_bits: int = 4
    # A Chase candidate is accepted only within t + max_extra_flips of the hard decision: a farther
    # codeword is as likely a miscorrection as the embedded ID.
    max_extra_flips: int = 2
    # Where the algebraic decoder fails but the key is strong enough for a detection, ordered-statistics
    # decoding (watermark.ordered_statistics) of this order looks further, for errors on unreliable bits. A
    # codeword is the ID only within osd_max_distance bits of the hard decisions and if it fits the
    # scores clearly better than the runner-up (osd_min_margin), whichever decoder found it: the
    # runner-up's reliability-weighted disagreement at least 1.7x the winner's. Simulated readings where
    # only ordered statistics decodes (10-25 % bit errors, 2 seeds): 3 wrong IDs in 2,541 accepted at
    # 0.7, 12 in 3,707 at 0.5 (no threshold separates them cleanly); real crops + CRF 28 that it
    # rescued had margins 0.5-2.2.
    osd_order: int = 2
    osd_max_distance: int = 17
    osd_min_margin: float = 0.7
    secret: bytes = DEFAULT_SECRET


@dataclass(frozen=True)
class PayloadReading:
    """Decoded payload.

    detected: p_value below DETECTION_P_VALUE: the video carries Candor's watermark.
    id: hex generation ID, or None where it could not be decoded (a detected mark can have lost it).
    p_value: bound on the chance that an unmarked video gives evidence this strong: key_p_value
    combined with codeword_p_value (combined_p_value; 1 for the codeword when none was decoded), times
    the readings it was chosen from.
    key_p_value: P(at least key_matches of key_bits match | unmarked video), the exact binomial tail.
    codeword_p_value: P(a random word decodes within `corrected` bits | unmarked video), or None.
    corrected: bits the decoder changed to reach the codeword (None if decoding failed).
    """

    detected: bool
    id: str | None
    p_value: float
    key_matches: int
    key_bits: int
    corrected: int | None
    key_p_value: float = 1.0
    codeword_p_value: float | None = None


def combined_p_value(first: float, second: float) -> float:
    """P(U1 U2 <= first * second) for independent uniform U1, U2: t (1 - ln t) at t = first * second.
    A valid p-value for the product of two independent (or conservative) p-values."""
    product = first * second
    return 0.0 if product <= 0 else min(1.0, product * (1 - math.log(product)))


def _stream(secret: bytes, label: bytes, n_bits: int) -> np.ndarray:
    """n_bits pseudo-random bits from HMAC-SHA256(secret, label || counter)."""
    blocks = []
    for counter in itertools.count():
        if len(blocks) * 256 >= n_bits:
            break
        blocks.append(hmac.new(secret, label + counter.to_bytes(4, "big"), hashlib.sha256).digest())
    return np.unpackbits(np.frombuffer(b"".join(blocks), dtype=np.uint8))[:n_bits]


class PayloadCodec:
    """Generation ID <-> the bit vector the watermark network embeds."""

    def __init__(self, config: PayloadConfig = PayloadConfig()) -> None:
        self.config = config
        self._bch = bchlib.BCH(config.bch_t, m=config.bch_m)
        self.parity_bits = self._bch.ecc_bits
        self.n_bits = config.key_bits + GENERATION_ID_BITS + self.parity_bits
        self.key = _stream(config.secret, b"key", config.key_bits)
        self.mask = _stream(config.secret, b"mask", self.n_bits)
        # The code is linear: its generator's rows are the codewords of the 64 unit IDs.
        units = np.eye(GENERATION_ID_BITS, dtype=np.uint8)
        generator = np.stack([self._codeword(np.packbits(unit).tobytes()) for unit in units])
        self._ordered_statistics = OrderedStatisticsDecoder(generator, config.osd_order)
        # The codeword evidence of the nearest codeword ordered statistics can add beyond BCH's radius.
        self._beyond_bch = self.codeword_p_value(config.bch_t + 1)

    def encode(self, generation_id: str) -> np.ndarray:
        """(n_bits,) uint8 in {0, 1} for a 16-hex-digit generation ID."""
        codeword = self._codeword(bytes.fromhex(parse_generation_id(generation_id)))
        return np.concatenate([self.key, codeword]) ^ self.mask

    def key_signs(self) -> np.ndarray:
        """(n_bits,) the sign a marked video's scores have on the detection-key bits, 0 elsewhere."""
        signs = np.zeros(self.n_bits)
        key_bits = self.config.key_bits
        signs[:key_bits] = 2.0 * (self.key ^ self.mask[:key_bits]) - 1
        return signs

    def decode(self, scores: np.ndarray, trials: int = 1) -> PayloadReading:
        """Decode soft scores (n_bits,), positive meaning bit 1 (e.g. frame-averaged logits).

        trials: how many readings these scores were picked from using the key (e.g. carrier alignments
        ranked by key agreement); the p-value is multiplied by it (Bonferroni), so it stays a bound on
        the chance that an unmarked video gets this far."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (self.n_bits,):
            raise ValueError(f"expected {self.n_bits} soft scores, got shape {scores.shape}")
        # Unwhiten: where the mask is 1, the embedded bit was flipped.
        scores = np.where(self.mask == 1, -scores, scores)
        key_bits = self.config.key_bits
        hard = (scores > 0).astype(np.uint8)
        matches = int(np.sum(hard[:key_bits] == self.key))
        key_p_value = float(binom.sf(matches - 1, key_bits, 0.5))
        key_alone = min(1.0, trials * combined_p_value(key_p_value, 1.0))
        # Ordered statistics only pay where a codeword just beyond the BCH radius would make the
        # reading a detection (on unmarked video almost never: it costs ~10 ms).
        worth_searching = trials * combined_p_value(key_p_value, self._beyond_bch) < DETECTION_P_VALUE
        generation_id, corrected = self._decode_id(scores[key_bits:], worth_searching)
        if generation_id is None:
            codeword_p_value, p_value = None, key_alone
        else:
            codeword_p_value = self.codeword_p_value(corrected)
            p_value = min(1.0, trials * combined_p_value(key_p_value, codeword_p_value))
        detected = p_value < DETECTION_P_VALUE
        return PayloadReading(
            detected, generation_id, p_value, matches, key_bits, corrected, key_p_value, codeword_p_value
        )

    def codeword_p_value(self, distance: int) -> float:
        """Bound on P(a uniformly random word of the codeword's length lies within `distance` bits of
        some codeword): the 2^64 balls of that radius cover at most 2^64 V(n, distance) of the 2^n words."""
        length = GENERATION_ID_BITS + self.parity_bits
        ball = sum(math.comb(length, k) for k in range(distance + 1))
        return min(1.0, ball / 2 ** (length - GENERATION_ID_BITS))

    def _decode_id(self, scores: np.ndarray, search: bool) -> tuple[str | None, int | None]:
        """The generation ID and the bits corrected, or (None, None).

        Candidates: the algebraic (Chase) decoding and, where it fails and `search`, ordered-statistics
        decoding. A candidate more than a few bits away (see _UNAMBIGUOUS_CODEWORD) is confirmed by
        ordered statistics: it must fit the scores clearly better than every other codeword found
        (osd_min_margin), since at high error rates the nearest codeword in Hamming distance can be a
        wrong one (a miscorrection)."""
        chase = self._chase(scores)
        if chase is None and not search:
            return None, None
        if chase is not None:
            distance = int(np.sum(chase != (scores > 0)))
            if self.codeword_p_value(distance) < _UNAMBIGUOUS_CODEWORD:
                return np.packbits(chase[:GENERATION_ID_BITS]).tobytes().hex(), distance
        result = self._ordered_statistics.decode(scores, extra=chase)
        if result.distance > self.config.osd_max_distance or result.margin < self.config.osd_min_margin:
            return None, None
        return np.packbits(result.codeword[:GENERATION_ID_BITS]).tobytes().hex(), result.distance

    def _chase(self, scores: np.ndarray) -> np.ndarray | None:
        """Chase-2 decoding: BCH on the hard decisions and on them with subsets of the least reliable
        bits flipped; the first codeword within t + max_extra_flips bits, or None."""
        hard = (scores > 0).astype(np.uint8)
        limit = self.config.bch_t + self.config.max_extra_flips
        unreliable = np.argsort(np.abs(scores))[: self.config.chase_bits]
        for count in range(self.config.chase_bits + 1):
            for flips in itertools.combinations(unreliable, count):
                trial = hard.copy()
                trial[list(flips)] ^= 1
                codeword = self._bch_decode(trial)
                if codeword is not None and int(np.sum(codeword != hard)) <= limit:
                    return codeword
        return None

    def _codeword(self, data: bytes) -> np.ndarray:
        parity = np.unpackbits(np.frombuffer(bytes(self._bch.encode(bytearray(data))), dtype=np.uint8))
        return np.concatenate([np.unpackbits(np.frombuffer(data, dtype=np.uint8)), parity[: self.parity_bits]])

    def _bch_decode(self, bits: np.ndarray) -> np.ndarray | None:
        """The corrected codeword, or None. bchlib can report success with an inconsistent correction,
        so the result is re-encoded and accepted only if it is a true codeword."""
        data = bytearray(np.packbits(bits[:GENERATION_ID_BITS]).tobytes())
        parity_bits = np.zeros(self._bch.ecc_bytes * 8, dtype=np.uint8)
        parity_bits[: self.parity_bits] = bits[GENERATION_ID_BITS:]
        parity = bytearray(np.packbits(parity_bits).tobytes())
        if self._bch.decode(data, parity) < 0:
            return None
        self._bch.correct(data, parity)
        codeword = self._codeword(bytes(data))
        corrected_parity = np.unpackbits(np.frombuffer(bytes(parity), dtype=np.uint8))[: self.parity_bits]
        if not np.array_equal(codeword[GENERATION_ID_BITS:], corrected_parity):
            return None
        return codeword
