"""Inference API: embed a generation ID into frames, and read it back from a video or image.

Embedding: informed embedding on the carriers, one correction per group of frames (1 s), then
channel-informed passes through a real H.264 encode so the payload still reads after a platform's
re-encode (watermark.modules.informed).

Video decision: average the extractor's per-frame evidence over the clip (the carrier tile statistics
are linear in the frames), read the carriers at the candidate alignments found on the whole clip
(none: most re-encodes; the highest distinct sign-blind peaks, for crops; and the same for the clip
mirrored left to right), decode the code at each and keep the best fit, and report the generation ID
with a p-value: the bound on an unmarked video fitting some codeword as well (watermark.payload),
multiplied by the number of readings (so reading more places cannot manufacture detections).
"Detected" means p < 1e-6 and comes with the ID. The same reading is made per time span (1 s by
default), so an excerpt can be read on its own.
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
from media.letterbox import picture_box
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

    p_value: the decision's (detected: p_value < 1e-6; see watermark.payload); corrected_bits: the bits
    where the decoded codeword differs from the reading's hard decisions (null when not detected);
    mirrored: the mark was read from the video flipped left to right (false when not detected);
    rotation: degrees (counter-clockwise) by which the video was found turned (0 when not detected, or
    read unturned)."""

    detected: bool
    id: str | None
    p_value: float
    frames: int
    corrected_bits: int | None
    mirrored: bool = False
    rotation: float = 0.0
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
        CRF in the model's config, each group also goes through that many encode/decode passes.

        Bars that the reader reads inside (_reading_box) stay as they are: the pattern goes on the
        picture, at the picture's aspect, which is how it will be read."""
        bits = torch.from_numpy(self.codec.encode(generation_id)).float().to(self.device)
        config = self.model.config
        group = max(1, config.informed_group)
        rows, cols = _reading_box(frames[:16]) if len(frames) else (slice(None), slice(None))
        whole = (rows.start, rows.stop, cols.start, cols.stop) == (0, frames.shape[1], 0, frames.shape[2])
        picture = frames if whole else frames[:, rows, cols]
        # Whole groups, and enough frames (up to ~30 M values) that the channel pass sees a codec's
        # usual context (groups of pictures) rather than isolated seconds.
        batch_size = group * max(1, _BATCH_VALUES // (group * picture[0].size)) if len(frames) else 1
        out = np.empty_like(frames) if whole else frames.copy()
        for start in range(0, len(frames), batch_size):
            batch = to_tensor(picture[start : start + batch_size], self.device)
            batch_bits = bits.expand(len(batch), -1)
            marked = self.model.embed(batch, batch_bits)
            if config.channel_crf > 0 and config.channel_margin > 0:
                for _ in range(config.channel_passes):
                    decoded = _channel(to_uint8(marked), config.channel_crf, config.channel_preset)
                    marked = self.model.top_up(
                        marked, _luma(decoded, self.device), batch_bits, config.channel_margin, gain=config.channel_gain
                    )
            out[start : start + batch_size, rows, cols] = to_uint8(marked)
        return out

    @torch.inference_mode()
    def statistics(
        self, frames: Iterable[np.ndarray], *, batch_size: int = 16
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-frame evidence: learned logits (T, n_bits) and carrier tile means (T, n_scales, P, P), and
        the clip's mean band image on the work grid (1, 1, h, w), for rotated readings.

        Uniform bars around the picture (a platform fitting the video to 9:16 or 16:9) are found on the
        first batch of frames and, where they hide the picture's scale, left out of every frame
        (_reading_box)."""
        learned, tiles, batch = [], [], []
        band_sum: torch.Tensor | None = None
        box: tuple[slice, slice] | None = None

        def flush() -> None:
            nonlocal box, band_sum
            stacked = np.stack(batch)
            if box is None:
                box = _reading_box(stacked)
            frame_learned, frame_tiles, band = self.model.statistics_and_band(
                to_tensor(stacked[:, box[0], box[1]], self.device)
            )
            learned.append(frame_learned.cpu())
            tiles.append(frame_tiles.cpu())
            band_sum = band.sum(0, keepdim=True) if band_sum is None else band_sum + band.sum(0, keepdim=True)
            batch.clear()

        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        if not learned:
            raise UnreadableMediaError("no frame to read the watermark from")
        learned_all = torch.cat(learned)
        return learned_all, torch.cat(tiles), band_sum.cpu() / len(learned_all)

    @torch.inference_mode()
    def decide(
        self,
        learned: torch.Tensor,
        tiles: torch.Tensor,
        band: torch.Tensor | None = None,
        *,
        fps: float = 25.0,
        span_seconds: float = 1.0,
    ) -> WatermarkReport:
        """Clip decision and per-span readings: statistics are averaged over the frames of the clip (or
        span). The candidate alignments are found on the whole clip's average, where the evidence is
        strongest, and serve its spans too (a crop or a resize is the same in every frame). With the
        clip's mean band image (`band`, from statistics), a clip that nothing else detects is also read
        turned back by the model's rotation angles (its spans are not: they have no band image)."""
        if len(learned) == 0:
            raise UnreadableMediaError("no frame to read the watermark from")

        clip_tiles = tiles.mean(0, keepdim=True).to(self.device)
        # A mirrored copy (a common way to slip a re-upload past matching) mirrors the tile statistics
        # too, up to a shift that the alignment search covers: the tiles are also read flipped, each
        # orientation at its own candidate alignments (orientation, alignment).
        alignments = [
            (mirrored, index)
            for mirrored in (False, True)
            for index in self.model.candidate_alignments(clip_tiles.flip(-1) if mirrored else clip_tiles).T
        ]

        def read(
            selection: slice, candidates: list[tuple[bool, torch.Tensor]], trials: int
        ) -> tuple[PayloadReading, np.ndarray, int]:
            """The best reading of the frames in `selection` at the (orientation, alignment) `candidates`
            (which of them, too), its p-value multiplied by `trials`."""
            span_learned = learned[selection].mean(0, keepdim=True).to(self.device)
            span_tiles = tiles[selection].mean(0, keepdim=True).to(self.device)
            oriented = {False: span_tiles, True: span_tiles.flip(-1)}
            readings = []
            for which, (mirrored, index) in enumerate(candidates):
                scores = self.model.logits_at(span_learned, oriented[mirrored], index)[0].cpu().numpy()
                readings.append((self.codec.decode(scores, trials=trials), scores, which))
            return min(readings, key=lambda item: item[0].p_value)

        angles = self.model.config.rotation_angles if band is not None else ()
        # Every p-value counts every reading that could have been made, the rotated ones included, so
        # that reading them only when nothing else detects keeps the union bound.
        trials = len(alignments) + len(angles) * self.model.config.rotation_peaks
        overall, overall_logits, chosen = read(slice(None), alignments, trials)
        rotation = 0.0
        if angles and not overall.detected:
            turned, turned_logits, angle = self._read_rotated(learned, band, angles, trials)
            if turned.p_value < overall.p_value:
                overall, overall_logits, chosen, rotation = turned, turned_logits, 0, angle
        # Spans are read where the whole clip reads best, and at the identity (a clip marked only in
        # part can read best elsewhere as a whole). That is a choice among all the clip's alignments, so
        # each span's p-value counts them all, and the spans (a 60-s clip read at 1e-6 per span would
        # otherwise report a false span in about 6e-5 of unmarked videos).
        span_alignments = alignments[:1] if chosen == 0 else [alignments[0], alignments[chosen]]
        bounds = span_bounds(len(learned), max(1, int(round(span_seconds * fps))))
        spans = []
        for start, end in bounds:
            reading, _, _ = read(slice(start, end), span_alignments, trials * len(bounds))
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
        return _report(overall, len(learned), overall_logits, spans, mirrored=alignments[chosen][0], rotation=rotation)

    def _read_rotated(
        self, learned: torch.Tensor, band: torch.Tensor, angles: tuple[float, ...], trials: int
    ) -> tuple[PayloadReading, np.ndarray, float]:
        """The best reading of the clip turned back by each of `angles` (degrees), at each angle's
        candidate alignments; its p-value multiplied by `trials`; and its angle."""
        clip_learned = learned.mean(0, keepdim=True).to(self.device)
        band = band.to(self.device)
        best: tuple[PayloadReading, np.ndarray, float] | None = None
        for angle in angles:
            turned = self.model.rotated_tiles(band, angle)
            for index in self.model.rotated_candidates(turned).T:
                scores = self.model.logits_at(clip_learned, turned, index)[0].cpu().numpy()
                reading = self.codec.decode(scores, trials=trials)
                if best is None or reading.p_value < best[0].p_value:
                    best = (reading, scores, angle)
        return best

    def read_frames(self, frames: np.ndarray, *, fps: float = 25.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read (T, H, W, 3) uint8 frames held in memory."""
        return self.decide(*self.statistics(frames), fps=fps, span_seconds=span_seconds)

    def read_file(self, path: Path, *, max_seconds: float | None = 60.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read a video (all frames up to `max_seconds`) or a single image."""
        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self.decide(*self.statistics([load_image(path)]), fps=1.0, span_seconds=1.0)
        times: list[float] = []
        statistics = self.statistics(_frames_until(path, max_seconds, times))
        return self.decide(*statistics, fps=_estimate_fps(times), span_seconds=span_seconds)


def span_bounds(frames: int, span: int) -> list[tuple[int, int]]:
    """[start, end) frame ranges of consecutive spans of `span` frames; a trailing remainder shorter
    than half a span joins the span before it (a few frames make a weak reading of their own)."""
    bounds = [(start, min(start + span, frames)) for start in range(0, frames, span)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < span / 2:
        last_start, _ = bounds.pop(-2)
        bounds[-1] = (last_start, frames)
    return bounds


# Bars that leave the picture's shorter side at least this share of the frame's shorter side are read
# through (a border, or bars along the longer side: the scale barely or not at all changed); narrower
# pictures are read inside their bars (see _reading_box).
_BARS_IGNORED_ABOVE = 0.95


def _reading_box(frames: np.ndarray) -> tuple[slice, slice]:
    """Where to read (T, H, W, 3) frames: inside their bars when the bars change the picture's shorter
    side, the whole frame otherwise.

    The carriers' grid scales the shorter side to the work size (work_grid_shape). Bars along the
    longer side (a square video in a 9:16 frame) leave that side alone: the picture is then only
    shifted, and the whole frame is read as it is, with no risk from where the bars' edge is found. Bars
    that make the frame's shorter side longer than the picture's (a 16:9 video in a 9:16 frame) would
    shrink the pattern out of the searched scales: the picture inside them is read. Its edges are found
    to a few pixels, a slight crop, within the search's tolerance."""
    rows, cols = picture_box(frames)
    height, width = frames.shape[1:3]
    picture_side = min(rows.stop - rows.start, cols.stop - cols.start)
    if picture_side >= _BARS_IGNORED_ABOVE * min(height, width):
        return slice(0, height), slice(0, width)
    return rows, cols


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


def _report(
    reading: PayloadReading,
    frames: int,
    logits: np.ndarray,
    spans: list[SpanReading],
    *,
    mirrored: bool,
    rotation: float = 0.0,
) -> WatermarkReport:
    confidence = np.abs(np.tanh(logits / 2))
    return WatermarkReport(
        detected=reading.detected,
        id=reading.id if reading.detected else None,
        p_value=reading.p_value,
        frames=frames,
        corrected_bits=reading.corrected,
        mirrored=reading.detected and mirrored,
        rotation=rotation if reading.detected else 0.0,
        bit_confidence=[round(float(c), 4) for c in confidence],
        spans=spans,
    )
