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
default), so an excerpt can be read on its own, and a video that holds a marked excerpt among
unmarked footage (a generated statement spliced into a real speech) is detected through its spans.

The reader keeps the evidence summed per span, not per frame (watermark.spans.ClipStatistics), so
reading a long video takes memory in proportion to its seconds (200-260 KB each), not its frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from media.errors import UnreadableMediaError
from media.frames import to_tensor
from media.image import load_image
from media.letterbox import INSET, picture_box
from media.video import iter_frames, to_yuv420p, transcode_frames
from media.weights import load_weights, read_card
from watermark.config import WatermarkModelConfig
from watermark.models.watermarker import Watermarker
from watermark.modules.jnd import luma
from watermark.payload import PayloadCodec, PayloadReading
from watermark.spans import ClipStatistics, SpanReading, SpanSums, innermost, local_windows, merged, span_windows

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "watermark" / "default.safetensors"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# How much of a video read_file reads by default: 10 minutes, the audio limit of generation; the
# reader's memory is 200-260 KB per second read.
DEFAULT_MAX_SECONDS = 600.0
_BATCH_VALUES = 30_000_000
# Frames read per batch of statistics: the per-frame tiles of a batch are the reader's only per-frame
# memory.
_READ_BATCH = 16
# Windows searched at once for alignments of their own (each holds ~13 MB of correlations meanwhile).
_LOCAL_BATCH = 8


@dataclass
class WatermarkReport:
    """The result of `candor watermark extract` (also embedded in verification reports).

    p_value: the decision's (detected: p_value < 1e-6; see watermark.payload): the better of the whole
    clip's reading and its best run of spans' (a span, or 2, 4, 8, ... consecutive spans: span_windows;
    a marked excerpt among unmarked footage reads there; runs of two spans are also read at alignments
    of their own, local_windows: an excerpt reframed before it was spliced in); corrected_bits: the bits
    where the decoded codeword differs from the reading's hard decisions (null when not detected);
    mirrored: the mark was read from the video flipped left to right (false when not detected);
    rotation: degrees (counter-clockwise) by which the video was found turned (0 when not detected, or
    read unturned); marked_seconds: [start, end] in seconds where the mark reads (the innermost runs of
    spans that detect, the whole clip being one, merged), for a video that mixes generated and other
    footage."""

    detected: bool
    id: str | None
    p_value: float
    frames: int
    corrected_bits: int | None
    mirrored: bool = False
    rotation: float = 0.0
    bit_confidence: list[float] = field(default_factory=list)
    spans: list[SpanReading] = field(default_factory=list)
    marked_seconds: list[list[float]] = field(default_factory=list)

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
        picture, at the picture's aspect, which is how it will be read. It goes on the whole picture, to
        its exact edges: the reader takes its box a few lines inside the edges it finds, and after a
        re-encode it finds them a line or two further out (ringing into the bars) or in, so its box is
        a slight crop of the marked picture, which the search undoes. Marked only inside such an inset box,
        the picture would be read in a box larger than its pattern's (the pattern shrunk below every
        rescaling searched: a 342 x 192 still in a 9:16 frame read at p 1e-3 after CRF 23)."""
        bits = torch.from_numpy(self.codec.encode(generation_id)).float().to(self.device)
        config = self.model.config
        group = max(1, config.informed_group)
        rows, cols = _reading_box(frames[:16], inset=0) if len(frames) else (slice(None), slice(None))
        whole = (rows.start, rows.stop, cols.start, cols.stop) == (0, frames.shape[1], 0, frames.shape[2])
        picture = frames if whole else frames[:, rows, cols]
        # Whole groups, and enough frames (up to ~30 M values) that the channel pass sees a codec's
        # usual context (groups of pictures) rather than isolated seconds.
        batch_size = group * max(1, _BATCH_VALUES // (group * picture[0].size)) if len(frames) else 1
        out = np.empty_like(frames) if whole else frames.copy()
        scale = config.margin_scale(min(picture.shape[1:3])) if len(frames) else 1.0
        for start in range(0, len(frames), batch_size):
            rgb = picture[start : start + batch_size]
            batch_bits = bits.expand(len(rgb), -1)
            change = self.model.luma_change(
                to_tensor(rgb, self.device), batch_bits, margin=config.informed_margin * scale
            )
            if config.channel_crf > 0 and config.channel_margin > 0:
                channel = _LumaChannel(rgb, config.channel_crf, config.channel_preset)
                for _ in range(config.channel_passes):
                    observed = channel.observed_luma(change)
                    correction = self.model.correction(observed, batch_bits, config.channel_margin * scale)
                    change.add_(correction, alpha=config.channel_gain)
            out[start : start + batch_size, rows, cols] = _with_luma_change(rgb, change)
        return out

    @torch.inference_mode()
    def statistics(
        self, frames: Iterable[np.ndarray], *, fps: float = 25.0, span_seconds: float = 1.0
    ) -> ClipStatistics:
        """The evidence of consecutive frames at `fps`, summed per span of `span_seconds`."""
        return self.timed_statistics(
            ((number / fps, frame) for number, frame in enumerate(frames)), span_seconds=span_seconds, nominal_fps=fps
        )

    @torch.inference_mode()
    def timed_statistics(
        self,
        frames: Iterable[tuple[float, np.ndarray]],
        *,
        span_seconds: float = 1.0,
        nominal_fps: float = 25.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> ClipStatistics:
        """The evidence of (presentation time in seconds, (H, W, 3) uint8 RGB frame) pairs, summed per
        span; `nominal_fps` is the frame rate assumed for a single frame; `on_progress` is called with
        the seconds read after each batch of frames.

        Uniform bars around the picture (a platform fitting the video to 9:16 or 16:9) are found on the
        first batch of frames and, where they hide the picture's scale, left out of every frame
        (_reading_box)."""
        sums = SpanSums(span_seconds, nominal_fps)
        batch: list[np.ndarray] = []
        times: list[float] = []
        box: tuple[slice, slice] | None = None

        def flush() -> None:
            nonlocal box
            stacked = np.stack(batch)
            if box is None:
                box = _reading_box(stacked)
            frame_learned, frame_tiles, band = self.model.statistics_and_band(
                to_tensor(stacked[:, box[0], box[1]], self.device)
            )
            sums.add(times, frame_learned.cpu(), frame_tiles.cpu(), band.cpu())
            if on_progress is not None:
                on_progress(times[-1] - sums.origin)
            batch.clear()
            times.clear()

        for time, frame in frames:
            batch.append(frame)
            times.append(time)
            if len(batch) == _READ_BATCH:
                flush()
        if batch:
            flush()
        return sums.finish()

    @torch.inference_mode()
    def decide(self, statistics: ClipStatistics) -> WatermarkReport:
        """Clip decision and per-span readings. The candidate alignments are found on the whole clip's
        average, where the evidence is strongest, and serve its spans too (a crop or a resize is the
        same in every frame). With the band images, a clip that nothing else detects is also read
        turned back by the model's rotation angles, and its spans at the angle and alignment found.

        The decision is the better of the clip's reading and its best run of spans' (span_windows): a
        marked excerpt among unmarked footage is diluted in the clip's average but reads in its own
        spans. Runs of two spans are also read at alignments of their own (local_windows): an excerpt
        reframed before it was spliced in has a geometry the rest of the video does not share. Several
        tests at once would multiply the false-positive rate, so every p-value counts each family of
        readings made (the clip's; its runs' at its alignments, with more than one span; the runs' own,
        with more than two)."""
        if statistics.total_frames == 0:
            raise UnreadableMediaError("no frame to read the watermark from")
        clip_learned, clip_tiles = (tensor.to(self.device) for tensor in statistics.mean())
        # A mirrored copy (a common way to slip a re-upload past matching) mirrors the tile statistics
        # too, up to a shift that the alignment search covers: the tiles are also read flipped, each
        # orientation at its own candidate alignments (orientation, alignment).
        # A centred crop's alignments follow from the work grid's shape (the band images'); they are read
        # in the frame's own orientation only.
        grid_shape = tuple(statistics.bands.shape[-2:]) if statistics.bands is not None else None
        alignments = [
            (mirrored, index)
            for mirrored in (False, True)
            for index in self.model.candidate_alignments(
                clip_tiles.flip(-1) if mirrored else clip_tiles, None if mirrored else grid_shape
            ).T
        ]

        def read(
            selection: slice, candidates: list[tuple[bool, torch.Tensor]], trials: int
        ) -> tuple[PayloadReading, np.ndarray, int]:
            """The best reading of the spans in `selection` at the (orientation, alignment) `candidates`
            (which of them, too), its p-value multiplied by `trials`."""
            span_learned, span_tiles = (tensor.to(self.device) for tensor in statistics.mean(selection))
            oriented = {False: span_tiles, True: span_tiles.flip(-1)}
            readings = []
            for mirrored in (False, True):  # the logits of all of an orientation's alignments at once
                which = [number for number, (flipped, _) in enumerate(candidates) if flipped == mirrored]
                if not which:
                    continue
                index = torch.cat([candidates[number][1].reshape(1) for number in which])
                tiles = oriented[mirrored].expand(len(which), *span_tiles.shape[1:])
                logits = self.model.logits_at(span_learned.expand(len(which), -1), tiles, index).cpu().numpy()
                readings.extend(
                    (self.codec.decode(scores, trials=trials), scores, number)
                    for number, scores in zip(which, logits, strict=True)
                )
            # The first of the best, in the candidates' order.
            return min(readings, key=lambda item: (item[0].p_value, item[2]))

        angles = self.model.config.rotation_angles if statistics.bands is not None else ()
        n_spans = len(statistics.frames)
        windows = local_windows(n_spans) if self.model.config.local_search_peaks else []
        # Every p-value counts every reading that could have been made, the rotated ones included, so
        # that reading them only when nothing else detects keeps the union bound; and every family of
        # readings (the clip's, its runs' at its alignments, the runs' at their own), each of which could
        # make the decision.
        families = 1 + (n_spans > 1) + bool(windows)
        trials = (len(alignments) + len(angles) * self.model.config.rotation_peaks) * families
        overall, overall_logits, chosen = read(slice(None), alignments, trials)
        rotation, turned_index = 0.0, None
        if angles and not overall.detected:
            turned, turned_logits, angle, index = self._read_rotated(
                clip_learned, statistics.mean_band(), angles, trials
            )
            if turned.p_value < overall.p_value:
                overall, overall_logits = turned, turned_logits
                # Only an angle that reads is the clip's: the spans of a long video whose average does not
                # detect are read unturned (turned by the best angle of unmarked footage, a spliced marked
                # excerpt would not read).
                if turned.detected:
                    rotation, turned_index, chosen = angle, index, 0
        # Spans are read where the whole clip reads best, and at the identity (a clip marked only in
        # part can read best elsewhere as a whole). That is a choice among all the clip's alignments, so
        # each span's p-value counts them all, and every run of spans read (a 60-s clip read at 1e-6
        # per span would otherwise report a false span in about 6e-5 of unmarked videos).
        span_alignments = alignments[:1] if chosen == 0 else [alignments[0], alignments[chosen]]
        runs = [(number, number + 1) for number in range(n_spans)] + span_windows(n_spans)
        run_trials = trials * len(runs)

        def read_run(first: int, last: int) -> tuple[PayloadReading, np.ndarray, bool]:
            """The reading of spans [first, last) at the clip's geometry, and whether it was mirrored."""
            if turned_index is None:
                reading, logits, which = read(slice(first, last), span_alignments, run_trials)
                return reading, logits, span_alignments[which][0]
            # A rotated clip's spans are read turned as the clip was.
            run_learned = statistics.mean(slice(first, last))[0].to(self.device)
            run_tiles = self.model.rotated_tiles(statistics.mean_band(slice(first, last)).to(self.device), rotation)
            logits = self.model.logits_at(run_learned, run_tiles, turned_index)[0].cpu().numpy()
            return self.codec.decode(logits, trials=run_trials), logits, False

        readings = [read_run(first, last) for first, last in runs]
        # A window's reading at its own alignments, and its spans' at the alignment where it detects, take
        # the place of their readings at the clip's where better (each p-value counts its own family).
        # One family: every window at each of its candidates, every span at each candidate of the two
        # windows that hold it.
        # Windows that already read at the clip's alignments (a marked video throughout) are not searched:
        # that saves the search where it cannot turn a non-detection into one, and the count stays.
        position = {run: number for number, run in enumerate(runs)}
        candidates = 2 * self.model.config.local_search_peaks
        local_trials = families * (len(windows) + 2 * n_spans) * candidates
        searched = [window for window in windows if not readings[position[window]][0].detected]
        for window, (reading, logits, mirrored, index) in zip(
            searched, self._read_local(statistics, searched, local_trials), strict=True
        ):
            found = [(window, (reading, logits, mirrored))]
            if reading.detected:
                at_window = [(mirrored, index.reshape(1))]
                for span in range(*window):
                    span_reading, span_logits, _ = read(slice(span, span + 1), at_window, local_trials)
                    found.append(((span, span + 1), (span_reading, span_logits, mirrored)))
            for run, run_reading in found:
                if run_reading[0].p_value < readings[position[run]][0].p_value:
                    readings[position[run]] = run_reading
        spans = [
            SpanReading(
                round(statistics.starts[number], 3),
                round(statistics.ends[number], 3),
                int(statistics.frames[number]),
                reading.detected,
                reading.id if reading.detected else None,
                reading.p_value,
            )
            for number, (reading, _, _) in enumerate(readings[:n_spans])
        ]
        detected_runs = [run for run, (reading, _, _) in zip(runs, readings, strict=True) if reading.detected]
        if overall.detected:  # the whole clip is a run too: where no shorter one reads, the mark is all of it
            detected_runs.append((0, n_spans))
        marked = [(statistics.starts[first], statistics.ends[last - 1]) for first, last in innermost(detected_runs)]
        # The decision is the better of the clip's reading and its best run's: every p-value is corrected
        # for all the families of tests, so the smallest is a valid one.
        mirrored = alignments[chosen][0]
        best_run, best_logits, best_mirrored = min(readings, key=lambda item: item[0].p_value)
        if best_run.p_value < overall.p_value:
            overall, overall_logits, mirrored = best_run, best_logits, best_mirrored
        return _report(
            overall, statistics.total_frames, overall_logits, spans, marked, mirrored=mirrored, rotation=rotation
        )

    def _read_local(
        self, statistics: ClipStatistics, windows: list[tuple[int, int]], trials: int
    ) -> list[tuple[PayloadReading, np.ndarray, bool, torch.Tensor]]:
        """Each [first, last) window's best reading at its own candidate alignments (the model's
        local_candidates, in both orientations), its p-value multiplied by `trials`, whether it was
        mirrored and its alignment. Windows are searched a few at a time: the search holds every bit's
        correlation at every alignment (13 MB per window)."""
        results = []
        for start in range(0, len(windows), _LOCAL_BATCH):
            means = [statistics.mean(slice(first, last)) for first, last in windows[start : start + _LOCAL_BATCH]]
            learned = torch.cat([mean[0] for mean in means]).to(self.device)
            tiles = torch.cat([mean[1] for mean in means]).to(self.device)
            oriented = {False: tiles, True: tiles.flip(-1)}
            candidates = {mirrored: self.model.local_candidates(oriented[mirrored]) for mirrored in oriented}
            for row in range(len(means)):
                best = None
                for mirrored, indices in candidates.items():
                    count = indices.shape[1]
                    logits = self.model.logits_at(
                        learned[row : row + 1].expand(count, -1),
                        oriented[mirrored][row : row + 1].expand(count, -1, -1, -1),
                        indices[row],
                    ).cpu()
                    for scores, index in zip(logits.numpy(), indices[row], strict=True):
                        reading = self.codec.decode(scores, trials=trials)
                        if best is None or reading.p_value < best[0].p_value:
                            best = (reading, scores, mirrored, index)
                results.append(best)
        return results

    def _read_rotated(
        self, clip_learned: torch.Tensor, band: torch.Tensor, angles: tuple[float, ...], trials: int
    ) -> tuple[PayloadReading, np.ndarray, float, torch.Tensor]:
        """The best reading of the clip (its mean learned logits, its mean band image) turned back by
        each of `angles` (degrees), at each angle's candidate alignments; its p-value multiplied by
        `trials`; its angle and its alignment."""
        band = band.to(self.device)
        best: tuple[PayloadReading, np.ndarray, float, torch.Tensor] | None = None
        for angle in angles:
            turned = self.model.rotated_tiles(band, angle)
            for index in self.model.rotated_candidates(turned).T:
                scores = self.model.logits_at(clip_learned, turned, index)[0].cpu().numpy()
                reading = self.codec.decode(scores, trials=trials)
                if best is None or reading.p_value < best[0].p_value:
                    best = (reading, scores, angle, index)
        return best

    def read_frames(self, frames: np.ndarray, *, fps: float = 25.0, span_seconds: float = 1.0) -> WatermarkReport:
        """Read (T, H, W, 3) uint8 frames held in memory."""
        return self.decide(self.statistics(frames, fps=fps, span_seconds=span_seconds))

    def read_file(
        self,
        path: Path,
        *,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        span_seconds: float = 1.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> WatermarkReport:
        """Read a video (every frame up to `max_seconds` from its first; None: all of it) or a single
        image. `on_progress` is called with the seconds of video read so far."""
        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self.decide(self.statistics([load_image(path)], fps=1.0))
        frames = _frames_until(iter_frames(path), max_seconds)
        return self.decide(self.timed_statistics(frames, span_seconds=span_seconds, on_progress=on_progress))


# Bars that leave the picture's shorter side at least this share of the frame's shorter side are read
# through (a border, or bars along the longer side: the scale barely or not at all changed); narrower
# pictures are read inside their bars (see _reading_box).
_BARS_IGNORED_ABOVE = 0.95


def _reading_box(frames: np.ndarray, inset: int = INSET) -> tuple[slice, slice]:
    """Where to read (T, H, W, 3) frames: inside their bars when the bars change the picture's shorter
    side, the whole frame otherwise.

    The carriers' grid scales the shorter side to the work size (work_grid_shape). Bars along the
    longer side (a square video in a 9:16 frame) leave that side alone: the picture is then only
    shifted, and the whole frame is read as it is, with no risk from where the bars' edge is found. Bars
    that make the frame's shorter side longer than the picture's (a 16:9 video in a 9:16 frame) would
    shrink the pattern out of the searched scales: the picture inside them is read. Its edges are found
    to a few pixels, a slight crop, within the search's tolerance. `inset`: picture_box's (the embedder
    marks the picture to its exact edges: 0)."""
    rows, cols = picture_box(frames, inset)
    height, width = frames.shape[1:3]
    picture_side = min(rows.stop - rows.start, cols.stop - cols.start)
    if picture_side >= _BARS_IGNORED_ABOVE * min(height, width):
        return slice(0, height), slice(0, width)
    return rows, cols


class _LumaChannel:
    """A platform's H.264 re-encode of `frames` (T, H, W, 3) uint8 RGB plus a luma change: what the
    embedder's channel passes measure. The change is the same on R, G and B, so the frames are converted
    to yuv420p once and each pass changes the Y plane alone, encodes the planes and reads the decoded Y
    (limited range: Y = 16 + 219 x luma): no RGB copy or conversion per pass. Clipping is left to the Y
    plane's range; an odd last row or column, which yuv420p cannot hold, reads as sent."""

    def __init__(self, frames: np.ndarray, crf: int, preset: str) -> None:
        self.crf, self.preset = crf, preset
        self.height, self.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        self.planes = to_yuv420p(frames[:, : self.height, : self.width])
        self.original_y = torch.from_numpy(self.planes[:, : self.height]).float()
        # The luma of an odd last row or column, which reads as sent: made once, not on every pass.
        odd = (self.height, self.width) != frames.shape[1:3]
        self.unsent_luma = luma(to_tensor(frames)) if odd else None

    def observed_luma(self, change: torch.Tensor) -> torch.Tensor:
        """(T, 1, H, W) luma in [0, 1] of the frames plus `change` (T, 1, H, W), as a viewer sees them
        after the encode."""
        height, width = self.height, self.width
        sent_y = change[:, 0, :height, :width].cpu().mul(_Y_RANGE).add_(self.original_y)
        planes = self.planes.copy()
        planes[:, :height] = sent_y.round_().clamp_(0, 255).to(torch.uint8).numpy()
        decoded = transcode_frames(planes, crf=self.crf, preset=self.preset, pixel_format="yuv420p")
        decoded_y = torch.from_numpy(decoded[: len(planes), :height]).to(change.device).float()
        decoded_luma = decoded_y.sub_(_Y_BLACK).div_(_Y_RANGE).clamp_(0, 1)
        if self.unsent_luma is None:
            return decoded_luma[:, None]
        observed = self.unsent_luma.to(change.device).add(change).clamp_(0, 1)
        observed[:, 0, :height, :width] = decoded_luma
        return observed


# Limited-range luma in yuv420p: black at Y = 16, white at 235.
_Y_BLACK, _Y_RANGE = 16.0, 219.0


def _with_luma_change(frames: np.ndarray, change: torch.Tensor) -> np.ndarray:
    """(T, H, W, 3) uint8 `frames` plus the luma change (T, 1, H, W), the same on R, G and B, rounded and
    clipped. Rounding the change alone is exact (the frames are whole levels) and spares an RGB float
    copy of the frames."""
    levels = change.mul(255).round_().to(torch.int16).permute(0, 2, 3, 1).cpu()
    return torch.from_numpy(frames).to(torch.int16).add_(levels).clamp_(0, 255).to(torch.uint8).numpy()


def _frames_until(
    frames: Iterator[tuple[float, np.ndarray]], max_seconds: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    """The (time, frame) pairs of the first `max_seconds` (all of them with None); the frame that
    crosses the limit is not read (a span's frames are whole)."""
    first: float | None = None
    for time, frame in frames:
        first = time if first is None else first
        if max_seconds is not None and time - first >= max_seconds:
            return
        yield time, frame


def _report(
    reading: PayloadReading,
    frames: int,
    logits: np.ndarray,
    spans: list[SpanReading],
    marked: list[tuple[float, float]],
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
        marked_seconds=merged(marked),
    )
