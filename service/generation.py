"""One accountable output: generated frames -> H.264 + AAC MP4 -> signed C2PA manifest -> manifest store.

Used by `candor generate` and the HTTP service alike, so every file Candor writes is signed the same way.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import c2pa

from generator.pipeline import GeneratedVideo
from media.audio import AudioTrack
from media.video import VideoWriter
from provenance.manifest import (
    ConsentReference,
    GenerationProvenance,
    InputMedia,
    ModelIdentity,
    WatermarkSpan,
    build_manifest,
)
from provenance.signing import sha256_of, sign_asset
from provenance.store import ManifestStore
from service.version import __version__


@dataclass(frozen=True)
class OutputRecord:
    path: Path
    generation_id: str
    frames: int
    seconds: float
    encode_seconds: float
    sign_seconds: float
    manifest_bytes: int


def model_identity(identity: dict[str, str]) -> ModelIdentity:
    """The pipeline's identity; the weights hash covers face, motion, watermark and gaze weights together."""
    parts = [identity[key] for key in ("face_sha256", "motion_sha256", "watermark_sha256", "gaze_sha256")]
    combined = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return ModelIdentity(identity["name"], identity["version"], combined)


def watermark_spans(frames: int, fps: float, span_seconds: float = 1.0) -> tuple[WatermarkSpan, ...]:
    duration = frames / fps
    count = max(1, int(-(-duration // span_seconds)))
    return tuple(WatermarkSpan(i * span_seconds, min((i + 1) * span_seconds, duration)) for i in range(count))


def write_signed_video(
    video: GeneratedVideo,
    audio: AudioTrack,
    destination: Path,
    *,
    signer: c2pa.Signer,
    store: ManifestStore,
    identity: dict[str, str],
    inputs: tuple[InputMedia, ...] = (),
    consent: ConsentReference | None = None,
    # Near-lossless: the watermark survives this encode (CRF 12) but not yet a platform's CRF 23+ re-encode.
    crf: int = 12,
) -> OutputRecord:
    """Encode `video` with `audio`, sign it, and record the manifest under its watermark ID.

    The file appears at `destination` only once signed (nothing half-written is left behind).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".candor-") as scratch:
        unsigned = Path(scratch) / "unsigned.mp4"
        with VideoWriter(unsigned, fps=video.fps, crf=crf, audio_sample_rate=audio.sample_rate) as writer:
            writer.add_audio(audio)
            for frame in video.frames:
                writer.write(frame)
        encoded = time.perf_counter()
        record = GenerationProvenance(
            title=destination.name,
            model=model_identity(identity),
            watermark_id=video.generation_id,
            watermark_spans=watermark_spans(len(video.frames), video.fps),
            inputs=inputs,
            consent=consent,
            extra_assertions=(
                {
                    "label": "com.candor.model",
                    "data": {k: v for k, v in identity.items() if k.endswith("sha256")},
                },
            ),
        )
        manifest = build_manifest(record, __version__)
        manifest_bytes = sign_asset(unsigned, destination, manifest, signer)
    signed = time.perf_counter()
    store.put(
        video.generation_id,
        title=destination.name,
        asset_sha256=sha256_of(destination),
        manifest_json=json.dumps(manifest),
        manifest_store=manifest_bytes,
    )
    return OutputRecord(
        path=destination,
        generation_id=video.generation_id,
        frames=len(video.frames),
        seconds=len(video.frames) / video.fps,
        encode_seconds=encoded - started,
        sign_seconds=signed - encoded,
        manifest_bytes=len(manifest_bytes),
    )


def input_media(role: str, path: Path) -> InputMedia:
    """An ingredient reference (hash only) for an input file."""
    suffix = Path(path).suffix.lower().lstrip(".")
    mime = {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "webp": "image/webp",
        "wav": "audio/wav",
        "mp3": "audio/mpeg",
        "flac": "audio/flac",
        "m4a": "audio/mp4",
        "ogg": "audio/ogg",
        "mp4": "video/mp4",
    }.get(suffix, "application/octet-stream")
    return InputMedia(role, mime, sha256_of(path))
