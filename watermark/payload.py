"""The watermark payload: a detection key and a BCH-protected 64-bit generation ID, whitened.

Layout of the N = key_bits + 64 + parity bits carried by every frame (before whitening):
    [ detection key (64 bits) | generation ID (64 bits) | BCH parity (63 bits, t = 10) ]
The detection key is a fixed pseudo-random pattern derived from the watermark secret; on an unmarked
video each of its bits matches with probability 1/2, so the number of matching key bits gives an
exact binomial p-value for "this video carries a Candor watermark". The ID is protected by a BCH code
over GF(2^7) (the Linux kernel implementation, via bchlib) that corrects 10 bit errors, with a Chase
search over the least reliable bits when hard decoding fails. All bits are XORed with a secret
pseudo-random mask, so payload bits are unbiased whatever the ID and key look like.

The C2PA soft-binding assertion names the algorithm below and carries the ID, so a platform that
extracts the watermark can find the manifest even after the file's metadata was stripped.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
from dataclasses import dataclass

import bchlib
import numpy as np
from scipy.stats import binom

GENERATION_ID_BITS = 64
SOFT_BINDING_ALG = "com.candor.watermark.v1"
DETECTION_P_VALUE = 1e-6
# The detection secret is public by design: anyone may check a video for Candor's watermark.
DEFAULT_SECRET = b"candor-watermark-v1-public-detection-key"
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
    secret: bytes = DEFAULT_SECRET


@dataclass(frozen=True)
class PayloadReading:
    """Decoded payload.

    detected: key p-value below DETECTION_P_VALUE and the ID decoded.
    id: hex generation ID or None; p_value: P(at least this many key bits match | unmarked video).
    key_matches / key_bits; corrected: bit errors the BCH code corrected (None if decoding failed).
    """

    detected: bool
    id: str | None
    p_value: float
    key_matches: int
    key_bits: int
    corrected: int | None


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
        p_value = min(1.0, trials * float(binom.sf(matches - 1, key_bits, 0.5)))
        codeword_scores = scores[key_bits:]
        generation_id, corrected = self._decode_id(codeword_scores)
        detected = generation_id is not None and p_value < DETECTION_P_VALUE
        return PayloadReading(detected, generation_id, p_value, matches, key_bits, corrected)

    def _decode_id(self, scores: np.ndarray) -> tuple[str | None, int | None]:
        hard = (scores > 0).astype(np.uint8)
        limit = self.config.bch_t + self.config.max_extra_flips
        # Chase-2: also try flipping subsets of the least reliable bits when plain decoding fails.
        unreliable = np.argsort(np.abs(scores))[: self.config.chase_bits]
        for count in range(self.config.chase_bits + 1):
            for flips in itertools.combinations(unreliable, count):
                trial = hard.copy()
                trial[list(flips)] ^= 1
                codeword = self._bch_decode(trial)
                if codeword is None:
                    continue
                distance = int(np.sum(codeword != hard))
                if distance <= limit:
                    return np.packbits(codeword[:GENERATION_ID_BITS]).tobytes().hex(), distance
        return None, None

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
