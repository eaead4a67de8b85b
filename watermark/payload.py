"""The generation ID carried by the watermark, and how provenance refers to it.

A generation ID is 64 random bits, written as 16 lowercase hex digits. The C2PA soft-binding
assertion names the watermark algorithm below and carries the ID, so a platform that extracts the
watermark can find the manifest even after the file's metadata was stripped.
"""

from __future__ import annotations

import re
import secrets

GENERATION_ID_BITS = 64
SOFT_BINDING_ALG = "com.candor.watermark.v1"
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
