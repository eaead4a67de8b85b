"""Inference API: embed a generation ID into frames, and read it back from a video or image.

Video decision (the issue's definition): average the extractor's soft scores over frames, decode the
ECC, and report the generation ID with a binomial p-value on the detection key; "detected" means
p < 1e-6 and a valid codeword. The same reading is made per time span (1 s by default), so an excerpt
can be read on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from media.errors import UnreadableMediaError
from media.image import load_image
from media.video import iter_frames
from media.weights import load_weights, read_card
from watermark.config import WatermarkModelConfig
from watermark.models.watermarker import Watermarker
from watermark.payload import PayloadCodec, PayloadReading

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "watermark" / "default.safetensors"
# Soft scores are clipped before averaging so that a few frames with extreme logits cannot outvote the rest.
LOGIT_CLIP = 6.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class SpanReading:
    start: float
    end: float
    frames: int
    detected: bool
    id: str | None
    p_value: float


@dataclass
class WatermarkReport:
    """The result of `candor watermark extract` (also embedded in verification reports)."""

    detected: bool
    id: str | None
    p_value: float
    frames: int
    key_matches: int
    key_bits: int
    corrected_bits: int | None
    bit_confidence: list[float] = field(default_factory=list)
    spans: list[SpanReading] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255


class VideoWatermarker:
    """Embeds and reads Candor's watermark. Frames are (T, H, W, 3) uint8 RGB of any size."""

    def __init__(
        self, model: Watermarker, codec: PayloadCodec | None = None, device: str | torch.device = "cpu"
    ) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.codec = codec or PayloadCodec()
        if self.codec.n_bits != model.config.n_bits:
            raise ValueError(f"payload has {self.codec.n_bits} bits, the network carries {model.config.n_bits}")

    @classmethod
    def from_pretrained(cls, path: Path | None = None, device: str | torch.device = "cpu") -> VideoWatermarker:
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        card = read_card(path)
        model = Watermarker(WatermarkModelConfig(**card["config"]))
        load_weights(model, path)
        return cls(model, device=device)

    @torch.inference_mode()
    def embed(self, frames: np.ndarray, generation_id: str, *, batch_size: int = 16) -> np.ndarray:
        """Watermarked copy of `frames` carrying `generation_id`."""
        bits = torch.from_numpy(self.codec.encode(generation_id)).float().to(self.device)
        out = np.empty_like(frames)
        for start in range(0, len(frames), batch_size):
            batch = _to_tensor(frames[start : start + batch_size], self.device)
            marked = self.model.embed(batch, bits.expand(len(batch), -1))
            out[start : start + batch_size] = (marked * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return out

    @torch.inference_mode()
    def frame_scores(self, frames: Iterable[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """(T, n_bits) calibrated logits, one row per frame."""
        rows, batch = [], []
        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                rows.append(self.model.extract(_to_tensor(np.stack(batch), self.device)).cpu().numpy())
                batch = []
        if batch:
            rows.append(self.model.extract(_to_tensor(np.stack(batch), self.device)).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.codec.n_bits))

    def decide(self, scores: np.ndarray, *, fps: float = 25.0, span_seconds: float = 1.0) -> WatermarkReport:
        """The clip-level decision and per-span readings from per-frame scores (T, n_bits)."""
        if len(scores) == 0:
            raise UnreadableMediaError("no frame to read the watermark from")
        clipped = np.clip(scores, -LOGIT_CLIP, LOGIT_CLIP)
        overall = self.codec.decode(clipped.mean(axis=0))
        span = max(1, int(round(span_seconds * fps)))
        spans = []
        for start in range(0, len(scores), span):
            reading = self.codec.decode(clipped[start : start + span].mean(axis=0))
            chunk = len(clipped[start : start + span])
            spans.append(
                SpanReading(start / fps, (start + chunk) / fps, chunk, reading.detected, reading.id, reading.p_value)
            )
        return _report(overall, len(scores), clipped, spans)

    def read_file(self, path: Path, *, max_seconds: float | None = 60.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read a video (all frames up to `max_seconds`) or a single image."""
        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            scores = self.frame_scores([load_image(path)])
            return self.decide(scores, fps=1.0, span_seconds=1.0)
        fps_holder: list[float] = []
        scores = self.frame_scores(_frames_until(path, max_seconds, fps_holder))
        fps = _estimate_fps(fps_holder)
        return self.decide(scores, fps=fps, span_seconds=span_seconds)


def _frames_until(path: Path, max_seconds: float | None, times: list[float]) -> Iterator[np.ndarray]:
    for time, frame in iter_frames(path):
        if max_seconds is not None and times and time - times[0] > max_seconds:
            break
        times.append(time)
        yield frame


def _estimate_fps(times: list[float]) -> float:
    if len(times) < 2:
        return 25.0
    return (len(times) - 1) / max(times[-1] - times[0], 1e-6)


def _report(reading: PayloadReading, frames: int, clipped: np.ndarray, spans: list[SpanReading]) -> WatermarkReport:
    confidence = np.abs(np.tanh(clipped.mean(axis=0) / 2))
    return WatermarkReport(
        detected=reading.detected,
        id=reading.id if reading.detected else None,
        p_value=reading.p_value,
        frames=frames,
        key_matches=reading.key_matches,
        key_bits=reading.key_bits,
        corrected_bits=reading.corrected,
        bit_confidence=[round(float(c), 4) for c in confidence],
        spans=spans,
    )
