"""Evidence per span of time: how the reader sums a video's per-frame statistics into spans (by
presentation time), and which runs of spans it reads, so that an excerpt, or a marked excerpt spliced
among unmarked footage, reads on its own (watermark.inference decides on them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from media.errors import UnreadableMediaError


@dataclass
class SpanReading:
    """One span's reading: its [start, end) in seconds from the first frame, its frame count, and its
    decision (the ID when detected; the p-value counts every run read, see watermark.inference)."""

    start: float
    end: float
    frames: int
    detected: bool
    id: str | None
    p_value: float


@dataclass
class ClipStatistics:
    """What the reader keeps of a clip: the per-frame evidence summed per span (every statistic is
    linear in the frames, so a span's reading, and the clip's, need only the sums), each span's frame
    count and times.

    learned: (S, n_bits) sums of the learned logits; tiles: (S, n_scales, P, P) sums of the carrier
    tile statistics; bands: (S, 1, h, w) sums of the band images on the work grid (for rotated
    readings; None: not kept); frames: (S,) frame counts; starts / ends: each span's first frame time
    and its last frame's end, in seconds from the first frame."""

    learned: torch.Tensor
    tiles: torch.Tensor
    frames: torch.Tensor
    starts: list[float]
    ends: list[float]
    bands: torch.Tensor | None = None

    @property
    def total_frames(self) -> int:
        return int(self.frames.sum())

    def mean(self, selection: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, n_bits) learned and (1, n_scales, P, P) tile means over the frames of the spans in
        `selection`."""
        count = self.frames[selection].sum().clamp(min=1)
        return self.learned[selection].sum(0, keepdim=True) / count, self.tiles[selection].sum(0, keepdim=True) / count

    def mean_band(self, selection: slice = slice(None)) -> torch.Tensor:
        """(1, 1, h, w) mean band image over the frames of the spans in `selection`."""
        return self.bands[selection].sum(0, keepdim=True) / self.frames[selection].sum().clamp(min=1)


class SpanSums:
    """Sums per-frame statistics into spans of `span_seconds` by presentation time, so that frame rate
    changes and gaps put frames in the span of their time. `nominal_fps` serves where a single frame
    cannot tell the rate."""

    def __init__(self, span_seconds: float, nominal_fps: float = 25.0) -> None:
        if span_seconds <= 0:
            raise ValueError(f"span_seconds must be positive, got {span_seconds}")
        self.span_seconds = span_seconds
        self.nominal_fps = nominal_fps
        self.learned: list[torch.Tensor] = []
        self.tiles: list[torch.Tensor] = []
        self.bands: list[torch.Tensor] = []
        self.frames: list[int] = []
        self.last_index = -1
        self.first_times: list[float] = []
        self.last_times: list[float] = []
        self.origin: float | None = None

    def add(self, times: list[float], learned: torch.Tensor, tiles: torch.Tensor, bands: torch.Tensor) -> None:
        if self.origin is None:
            self.origin = times[0]
        for time, frame_learned, frame_tiles, frame_band in zip(times, learned, tiles, bands, strict=True):
            # A tolerance for times stored as rounded fractions; a timestamp that goes back (a broken
            # file) stays in the current span.
            index = int((time - self.origin) / self.span_seconds + 1e-6)
            if index > self.last_index:
                self.last_index = index
                self.learned.append(frame_learned.clone())
                self.tiles.append(frame_tiles.clone())
                self.bands.append(frame_band.clone())
                self.frames.append(1)
                self.first_times.append(time)
                self.last_times.append(time)
            else:
                self.learned[-1] += frame_learned
                self.tiles[-1] += frame_tiles
                self.bands[-1] += frame_band
                self.frames[-1] += 1
                self.last_times[-1] = max(self.last_times[-1], time)

    def finish(self) -> ClipStatistics:
        if not self.frames:
            raise UnreadableMediaError("no frame to read the watermark from")
        count = sum(self.frames)
        duration = max(self.last_times) - self.origin
        fps = (count - 1) / duration if count > 1 and duration > 1e-6 else self.nominal_fps
        # A trailing remainder shorter than half a span joins the span before it (a few frames make a
        # weak reading of their own).
        if len(self.frames) > 1 and self.frames[-1] < self.span_seconds * fps / 2:
            learned, tiles, band, frames = self.learned.pop(), self.tiles.pop(), self.bands.pop(), self.frames.pop()
            self.learned[-1] += learned
            self.tiles[-1] += tiles
            self.bands[-1] += band
            self.frames[-1] += frames
            self.first_times.pop()
            self.last_times[-1] = self.last_times.pop()
        return ClipStatistics(
            learned=torch.stack(self.learned),
            tiles=torch.stack(self.tiles),
            frames=torch.tensor(self.frames),
            starts=[time - self.origin for time in self.first_times],
            ends=[time - self.origin + 1 / fps for time in self.last_times],
            bands=torch.stack(self.bands),
        )


def local_windows(n_spans: int) -> list[tuple[int, int]]:
    """[first, last) runs of two spans, starting at every span, searched for an alignment of their own
    (a reframed excerpt of three seconds or more lies wholly in one of them, one of two seconds at least
    three quarters): none where the only such run is the whole clip, which is searched anyway. They are
    also span_windows' runs of two."""
    return [(first, first + 2) for first in range(n_spans - 1)] if n_spans > 2 else []


def span_windows(n_spans: int) -> list[tuple[int, int]]:
    """[first, last) runs of consecutive spans read besides the spans themselves: 2, 4, 8, ... spans long
    (shorter than the whole clip, which is read anyway), starting every half run. An excerpt too weak
    in each of its seconds (two seconds of a moving face after CRF 28) reads in a run of them; this
    costs about 2.5x the readings of the spans alone, a factor in every span's p-value."""
    windows, length = [], 2
    while length < n_spans:
        windows += [(first, first + length) for first in range(0, n_spans - length + 1, length // 2)]
        length *= 2
    return windows


def innermost(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The [first, last) runs that hold no other run of the list: where a mark reads, as narrowly as it
    reads (a window that holds a detected second detects through it and would blur where the mark is)."""
    if not runs:
        return []
    end = max(last for _, last in runs)
    starts_by_length: dict[int, np.ndarray] = {}
    for first, last in runs:
        starts_by_length.setdefault(last - first, np.zeros(end + 1, dtype=np.int64))[first + 1] += 1
    counts = {length: np.cumsum(starts) for length, starts in starts_by_length.items()}  # runs starting before

    def holds_another(first: int, last: int) -> bool:
        # A run of a shorter length starting in [first, last - length] lies inside [first, last).
        return any(
            counts[length][last - length + 1] - counts[length][first] > 0 for length in counts if length < last - first
        )

    return [(first, last) for first, last in runs if not holds_another(first, last)]


def merged(ranges: list[tuple[float, float]]) -> list[list[float]]:
    """Overlapping or touching [start, end) ranges merged, in order: [(4, 5), (4, 6), (9, 10)] ->
    [[4, 6], [9, 10]]."""
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1e-3:
            merged[-1][1] = round(max(merged[-1][1], end), 3)
        else:
            merged.append([round(start, 3), round(end, 3)])
    return merged
