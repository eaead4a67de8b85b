"""Data preparation: a folder of talking-face videos -> per-clip face crops at a constant frame rate.

Each clip becomes `OUT/clips/<clip_id>/` holding `frames.mp4` (square H.264 face crops), `audio.wav`
(16 kHz mono, when the source has audio) and `clip.json` (source, identity, crop boxes, counts).
A clip that cannot be used gets a `clip.json` with status "skipped" and the reason, so a second run
skips finished clips (prepared or skipped) and only works on new ones.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from media.audio import SPEECH_SAMPLE_RATE, AudioTrack, decode_audio, resample, save_wav
from media.errors import MediaError
from media.faces import (
    CropBox,
    CropConfig,
    FaceDetector,
    TrackConfig,
    crop,
    find_tracklets,
    smooth_crop_boxes,
)
from media.video import VIDEO_EXTENSIONS, VideoWriter, iter_frames, probe_video, resample_frame_indices

log = logging.getLogger(__name__)

PREPARE_FORMAT_VERSION = 1
CLIP_RECORD = "clip.json"
FRAMES_FILE = "frames.mp4"
AUDIO_FILE = "audio.wav"

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of one preparation run; recorded in every clip record."""

    size: int = 256
    fps: float = 25.0
    crf: int = 16
    min_face_fraction: float = 0.5
    min_seconds: float = 1.0
    crop: CropConfig = field(default_factory=CropConfig)
    track: TrackConfig = field(default_factory=TrackConfig)


@dataclass(frozen=True)
class SourceClip:
    """A video found under the source folder, with its identity label and where the label came from."""

    path: Path
    clip_id: str
    identity: str
    identity_source: str  # "manifest" | "layout" | "clip"


@dataclass(frozen=True)
class ClipOutcome:
    clip_id: str
    status: str  # "prepared" | "skipped" | "done-before"
    reason: str = ""
    n_frames: int = 0


def find_source_clips(src_dir: Path, manifest: Path | None = None) -> list[SourceClip]:
    """Every video under `src_dir`, with identities.

    Identity comes from a manifest TSV (`file` and `identity` columns; `MANIFEST.tsv` in `src_dir` or
    its parent is used when present), else from a nested layout (VoxCeleb2 `id/video/clip.mp4`: the
    first folder), else each clip is its own identity.
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise MediaError(f"{src_dir}: not a folder")
    manifest = manifest or _default_manifest(src_dir)
    labels = _read_manifest(manifest, src_dir) if manifest else {}
    clips = []
    for path in sorted(p for p in src_dir.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()):
        relative = path.relative_to(src_dir)
        clip_id = _slug(relative.with_suffix("").as_posix())
        if relative.as_posix() in labels:
            identity, source = labels[relative.as_posix()], "manifest"
        elif len(relative.parts) >= 3:
            identity, source = relative.parts[0], "layout"
        else:
            identity, source = clip_id, "clip"
        clips.append(SourceClip(path, clip_id, identity, source))
    return clips


def _default_manifest(src_dir: Path) -> Path | None:
    for candidate in (src_dir / "MANIFEST.tsv", src_dir.parent / "MANIFEST.tsv"):
        if candidate.is_file():
            return candidate
    return None


def _read_manifest(manifest: Path, src_dir: Path) -> dict[str, str]:
    """Map paths relative to `src_dir` -> identity. Manifest paths may be relative to its own folder."""
    labels = {}
    with open(manifest, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if not row.get("file") or not row.get("identity"):
                continue
            absolute = (manifest.parent / row["file"]).resolve()
            try:
                labels[absolute.relative_to(src_dir.resolve()).as_posix()] = row["identity"]
            except ValueError:
                continue
    return labels


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "_", text.lower()).strip("_")


def prepare_corpus(
    src_dir: Path,
    out_dir: Path,
    config: PrepareConfig,
    *,
    manifest: Path | None = None,
    retry_skipped: bool = False,
    on_clip_start: Callable[[SourceClip, int, int], None] | None = None,
    on_frames: ProgressCallback | None = None,
    on_clip_done: Callable[[ClipOutcome], None] | None = None,
) -> list[ClipOutcome]:
    """Prepare every clip under `src_dir` into `out_dir`; returns one outcome per clip.

    Finished clips (prepared or skipped with the same settings) are not redone; `retry_skipped`
    tries skipped ones again. A summary is written to `out_dir/summary.json`.
    """
    clips = find_source_clips(src_dir, manifest)
    clips_dir = Path(out_dir) / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector()
    outcomes = []
    for index, clip in enumerate(clips):
        if on_clip_start:
            on_clip_start(clip, index, len(clips))
        previous = _finished_record(clips_dir / clip.clip_id, config, retry_skipped)
        if previous is not None:
            outcome = ClipOutcome(clip.clip_id, "done-before", previous.get("reason", ""), previous.get("n_frames", 0))
        else:
            outcome = prepare_clip(clip, clips_dir, config, detector=detector, on_frames=on_frames)
        outcomes.append(outcome)
        if on_clip_done:
            on_clip_done(outcome)
    write_summary(Path(out_dir), config)
    return outcomes


def _finished_record(clip_dir: Path, config: PrepareConfig, retry_skipped: bool) -> dict | None:
    record_path = clip_dir / CLIP_RECORD
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text())
    if record.get("config") != _config_record(config):
        return None
    if record["status"] == "skipped" and retry_skipped:
        return None
    return record


def _config_record(config: PrepareConfig) -> dict:
    return {"format_version": PREPARE_FORMAT_VERSION, **asdict(config)}


def prepare_clip(
    clip: SourceClip,
    clips_dir: Path,
    config: PrepareConfig,
    *,
    detector: FaceDetector,
    on_frames: ProgressCallback | None = None,
) -> ClipOutcome:
    """Face-track, crop and resample one clip. Writes atomically: a crash leaves no half-written clip."""
    final_dir = clips_dir / clip.clip_id
    work_dir = clips_dir / f".partial-{clip.clip_id}"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    base_record = {
        "clip_id": clip.clip_id,
        "source": str(clip.path),
        "identity": clip.identity,
        "identity_source": clip.identity_source,
        "config": _config_record(config),
    }
    try:
        record = _crop_clip(clip, work_dir, config, detector, on_frames)
        record = {**base_record, "status": "prepared", **record}
        outcome = ClipOutcome(clip.clip_id, "prepared", n_frames=record["n_frames"])
    except _SkipClip as skip:
        shutil.rmtree(work_dir)
        work_dir.mkdir()
        record = {**base_record, "status": "skipped", "reason": str(skip)}
        outcome = ClipOutcome(clip.clip_id, "skipped", str(skip))
    except MediaError as err:
        shutil.rmtree(work_dir)
        work_dir.mkdir()
        record = {**base_record, "status": "skipped", "reason": str(err)}
        outcome = ClipOutcome(clip.clip_id, "skipped", str(err))
    (work_dir / CLIP_RECORD).write_text(json.dumps(record, indent=1))
    shutil.rmtree(final_dir, ignore_errors=True)
    work_dir.rename(final_dir)
    return outcome


class _SkipClip(Exception):
    """The clip is readable but unusable for training (too short, face mostly absent)."""


def _crop_clip(
    clip: SourceClip,
    work_dir: Path,
    config: PrepareConfig,
    detector: FaceDetector,
    on_frames: ProgressCallback | None,
) -> dict:
    info = probe_video(clip.path)
    expected = int(info.duration * info.fps) or None
    # Pass 1: timestamps and detections, one frame in memory at a time (sources can be 1080p).
    times, detections = [], []
    for time, frame in iter_frames(clip.path):
        times.append(time)
        detections.append(detector.detect(frame))
        if on_frames:
            on_frames(len(times), expected)
    times_array = np.asarray(times)
    selected = resample_frame_indices(times_array, config.fps)
    tracklets = find_tracklets([detections[i] for i in selected], config.fps, config.track)
    if not tracklets:
        raise _SkipClip("no face found in any frame")
    # The longest face track is the clip's subject; other people and other shots are left out.
    tracklet = tracklets[0]
    duration = tracklet.length / config.fps
    if duration < config.min_seconds:
        raise _SkipClip(f"longest face track too short ({duration:.2f} s < {config.min_seconds} s)")
    if tracklet.face_fraction < config.min_face_fraction:
        raise _SkipClip(f"face visible in only {tracklet.face_fraction:.0%} of frames")
    span = slice(tracklet.start, tracklet.end)
    selected = selected[span]
    boxes = smooth_crop_boxes(tracklet.boxes[span], config.fps, config.crop, config.track)
    # Pass 2: crop the selected frames (a source frame may be used twice when upsampling the rate).
    uses = np.bincount(selected, minlength=len(times))
    with VideoWriter(work_dir / FRAMES_FILE, fps=config.fps, crf=config.crf) as writer:
        out_index = 0
        for source_index, (_, frame) in enumerate(iter_frames(clip.path)):
            for _ in range(uses[source_index] if source_index < len(uses) else 0):
                writer.write(crop(frame, CropBox.from_array(boxes[out_index]), config.size))
                out_index += 1
            if out_index == len(selected):
                break
    start_time = float(times_array[selected[0]])
    audio = _prepared_audio(clip.path, start=start_time, n_frames=len(selected), fps=config.fps)
    if audio is not None:
        save_wav(work_dir / AUDIO_FILE, audio)
    return {
        "n_frames": int(len(selected)),
        "fps": config.fps,
        "size": config.size,
        "duration": duration,
        "has_audio": audio is not None,
        "face_fraction": round(tracklet.face_fraction, 4),
        "source_start": round(start_time, 3),
        "other_face_tracks": len(tracklets) - 1,
        "source_fps": round(info.fps, 3),
        "source_size": [info.width, info.height],
        "crop_boxes": np.round(boxes, 2).tolist(),
    }


def _prepared_audio(path: Path, *, start: float, n_frames: int, fps: float) -> AudioTrack | None:
    """16 kHz mono audio covering exactly the prepared frames (padded with silence if short)."""
    track = decode_audio(path)
    if track is None or len(track.samples) == 0 or np.max(np.abs(track.samples)) < 1e-4:
        return None
    track = resample(track, SPEECH_SAMPLE_RATE)
    first = int(round(max(start, 0.0) * SPEECH_SAMPLE_RATE))
    n_samples = int(round(n_frames / fps * SPEECH_SAMPLE_RATE))
    samples = track.samples[first : first + n_samples]
    samples = np.pad(samples, (0, n_samples - len(samples)))
    return AudioTrack(samples.astype(np.float32), SPEECH_SAMPLE_RATE)


def write_summary(out_dir: Path, config: PrepareConfig) -> dict:
    """Count what the prepared folder holds and why clips were skipped; written to summary.json."""
    records = [json.loads(p.read_text()) for p in sorted((out_dir / "clips").glob(f"*/{CLIP_RECORD}"))]
    prepared = [r for r in records if r["status"] == "prepared"]
    summary = {
        "config": _config_record(config),
        "clips_found": len(records),
        "clips_prepared": len(prepared),
        "clips_with_audio": sum(r["has_audio"] for r in prepared),
        "frames": sum(r["n_frames"] for r in prepared),
        "minutes": round(sum(r["duration"] for r in prepared) / 60, 2),
        "identities": len({r["identity"] for r in prepared}),
        "skipped": {r["clip_id"]: r["reason"] for r in records if r["status"] == "skipped"},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarize(outcomes: Iterable[ClipOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
