"""`read_watermark(path)`: the JSON-ready watermark reading used by verification."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from watermark.inference import VideoWatermarker


@lru_cache(maxsize=1)
def default_watermarker() -> VideoWatermarker:
    return VideoWatermarker.from_pretrained()


def read_watermark(path: Path) -> dict:
    return default_watermarker().read_file(path).to_dict()
