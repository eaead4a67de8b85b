"""Inference API: embed a generation ID into frames, and read it back from a video or image.

Embedding: informed embedding on the carriers, one correction per group of frames (1 s), then
channel-informed passes through a real H.264 encode so the payload still reads after a platform's
re-encode (watermark.modules.informed).

Video decision: average the extractor's per-frame evidence over the clip (the carrier tile statistics
are linear in the frames), read the carriers at four candidate alignments found on the whole clip
(none: most re-encodes; the sign-blind peak and its best sub-pixel neighbour; the alignment where the
known detection-key bits agree most, for crops),
decode the ECC, and report the generation ID with a p-value that combines the binomial tail of the
detection key with the decoded codeword's distance (watermark.payload), multiplied by the number of
alignments each reading was chosen from (so searching cannot manufacture detections); "detected"
means p < 1e-6, and the ID is reported when the codeword decodes (a heavily processed video can keep
the mark but lose its ID). The same reading is made per time span (1 s by default), so an excerpt can
be read on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from media.errors import UnreadableMediaError
from media.frames import to_tensor, to_uint8
from media.image import load_image
from media.video import iter_frames, transcode_frames
from media.weights import load_weights, read_card
from watermark.config import WatermarkModelConfig
from watermark.models.watermarker import Watermarker
from watermark.modules.jnd import LUMA_WEIGHTS
from watermark.payload import PayloadCodec, PayloadReading

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "watermark" / "default.safetensors"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_BATCH_VALUES = 30_000_000


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
    """The result of `candor watermark extract` (also embedded in verification reports).

    p_value: the decision's (detected: p_value < 1e-6); key_p_value: the binomial tail of the key bits
    alone, before the search correction and the codeword's evidence (see watermark.payload)."""

    detected: bool
    id: str | None
    p_value: float
    frames: int
    key_matches: int
    key_bits: int
    corrected_bits: int | None
    key_p_value: float = 1.0
    bit_confidence: list[float] = field(default_factory=list)
    spans: list[SpanReading] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


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
    def embed(self, frames: np.ndarray, generation_id: str) -> np.ndarray:
        """Watermarked copy of `frames` (consecutive frames of one video, or one image) carrying
        `generation_id`. Frames are processed in groups of the model's informed_group; with a channel
        CRF in the model's config, each group also goes through that many encode/decode passes."""
        bits = torch.from_numpy(self.codec.encode(generation_id)).float().to(self.device)
        config = self.model.config
        group = max(1, config.informed_group)
        # Whole groups, and enough frames (up to ~30 M values) that the channel pass sees a codec's
        # usual context (groups of pictures) rather than isolated seconds.
        batch_size = group * max(1, _BATCH_VALUES // (group * frames[0].size)) if len(frames) else 1
        out = np.empty_like(frames)
        for start in range(0, len(frames), batch_size):
            batch = to_tensor(frames[start : start + batch_size], self.device)
            batch_bits = bits.expand(len(batch), -1)
            marked = self.model.embed(batch, batch_bits)
            if config.channel_crf > 0 and config.channel_margin > 0:
                for _ in range(config.channel_passes):
                    decoded = _channel(to_uint8(marked), config.channel_crf, config.channel_preset)
                    marked = self.model.top_up(
                        marked, _luma(decoded, self.device), batch_bits, config.channel_margin, gain=config.channel_gain
                    )
            out[start : start + batch_size] = to_uint8(marked)
        return out

    @torch.inference_mode()
    def statistics(self, frames: Iterable[np.ndarray], *, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame evidence: learned logits (T, n_bits) and carrier tile means (T, n_scales, P, P)."""
        learned, tiles, batch = [], [], []

        def flush() -> None:
            frame_learned, frame_tiles = self.model.statistics(to_tensor(np.stack(batch), self.device))
            learned.append(frame_learned.cpu())
            tiles.append(frame_tiles.cpu())
            batch.clear()

        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        if not learned:
            raise UnreadableMediaError("no frame to read the watermark from")
        return torch.cat(learned), torch.cat(tiles)

    @torch.inference_mode()
    def decide(
        self, learned: torch.Tensor, tiles: torch.Tensor, *, fps: float = 25.0, span_seconds: float = 1.0
    ) -> WatermarkReport:
        """Clip decision and per-span readings: statistics are averaged over the frames of the clip (or
        span). The candidate alignments are found on the whole clip's average, where the evidence is
        strongest, and serve its spans too (a crop or a resize is the same in every frame)."""
        if len(learned) == 0:
            raise UnreadableMediaError("no frame to read the watermark from")

        key_signs = torch.from_numpy(self.codec.key_signs()).float().to(self.device)
        alignments = self.model.candidate_alignments(tiles.mean(0, keepdim=True).to(self.device), key_signs)

        def read(selection: slice, readings_made: int = 1) -> tuple[PayloadReading, np.ndarray]:
            """The best of the candidate alignments; p-values count every alignment that was tried, and
            the `readings_made` of which this is one (the spans of a clip)."""
            span_learned = learned[selection].mean(0, keepdim=True).to(self.device)
            span_tiles = tiles[selection].mean(0, keepdim=True).to(self.device)
            readings = []
            for _, index, trials in alignments:
                scores = self.model.logits_at(span_learned, span_tiles, index)[0].cpu().numpy()
                readings.append((self.codec.decode(scores, trials=trials * len(alignments) * readings_made), scores))
            return min(readings, key=lambda item: (not item[0].detected, item[0].id is None, item[0].p_value))

        overall, overall_logits = read(slice(None))
        # Each span is a test of its own, so each is corrected for the number of spans (a 60-s clip read
        # at 1e-6 per span would otherwise report a false span in about 6e-5 of unmarked videos).
        bounds = span_bounds(len(learned), max(1, int(round(span_seconds * fps))))
        spans = []
        for start, end in bounds:
            reading, _ = read(slice(start, end), len(bounds))
            count = end - start
            spans.append(
                SpanReading(
                    start / fps,
                    (start + count) / fps,
                    count,
                    reading.detected,
                    reading.id if reading.detected else None,
                    reading.p_value,
                )
            )
        return _report(overall, len(learned), overall_logits, spans)

    def read_frames(self, frames: np.ndarray, *, fps: float = 25.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read (T, H, W, 3) uint8 frames held in memory."""
        return self.decide(*self.statistics(frames), fps=fps, span_seconds=span_seconds)

    def read_file(self, path: Path, *, max_seconds: float | None = 60.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read a video (all frames up to `max_seconds`) or a single image."""
        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self.decide(*self.statistics([load_image(path)]), fps=1.0, span_seconds=1.0)
        times: list[float] = []
        learned, tiles = self.statistics(_frames_until(path, max_seconds, times))
        return self.decide(learned, tiles, fps=_estimate_fps(times), span_seconds=span_seconds)


def span_bounds(frames: int, span: int) -> list[tuple[int, int]]:
    """[start, end) frame ranges of consecutive spans of `span` frames; a trailing remainder shorter
    than half a span joins the span before it (a few frames make a weak reading of their own)."""
    bounds = [(start, min(start + span, frames)) for start in range(0, frames, span)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < span / 2:
        last_start, _ = bounds.pop(-2)
        bounds[-1] = (last_start, frames)
    return bounds


def _luma(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 1, H, W) float luma in [0, 1], without an RGB float copy."""
    weights = torch.tensor(LUMA_WEIGHTS, device=device) / 255
    rgb = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return sum(rgb[..., channel] * weight for channel, weight in enumerate(weights))[:, None]


def _channel(frames: np.ndarray, crf: int, preset: str) -> np.ndarray:
    """`frames` as a viewer sees them after a platform's H.264 re-encode at `crf` (same shape: an odd
    last row or column, which yuv420p cannot hold, is kept from the input)."""
    decoded = transcode_frames(frames, crf=crf, preset=preset)
    out = frames.copy()
    out[: len(decoded), : decoded.shape[1], : decoded.shape[2]] = decoded[: len(frames)]
    return out


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


def _report(reading: PayloadReading, frames: int, logits: np.ndarray, spans: list[SpanReading]) -> WatermarkReport:
    confidence = np.abs(np.tanh(logits / 2))
    return WatermarkReport(
        detected=reading.detected,
        id=reading.id if reading.detected else None,
        p_value=reading.p_value,
        frames=frames,
        key_matches=reading.key_matches,
        key_bits=reading.key_bits,
        corrected_bits=reading.corrected if reading.detected else None,
        key_p_value=reading.key_p_value,
        bit_confidence=[round(float(c), 4) for c in confidence],
        spans=spans,
    )
