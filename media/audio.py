"""Audio loading: any container PyAV can open -> 16 kHz mono float32, with clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import librosa
import numpy as np

from media.atomic import atomic_destination
from media.errors import (
    AudioTooLongError,
    EmptyAudioError,
    SilentAudioError,
    UnreadableMediaError,
)

SPEECH_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioLimits:
    """Acceptance bounds for an input audio clip."""

    max_seconds: float = 600.0
    # Peak below this (dBFS) counts as silence: -60 dB is below any usable speech recording.
    silence_peak_dbfs: float = -60.0
    min_seconds: float = 0.04


@dataclass(frozen=True)
class AudioTrack:
    """Mono audio.

    samples: (N,) float32 in [-1, 1]; sample_rate in Hz.
    """

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_audio(path: str | Path, *, max_seconds: float | None = None) -> AudioTrack | None:
    """Decode the first audio stream of any file PyAV opens (wav, mp3, flac, m4a, mp4, ...).

    Returns the track mixed to mono at its native rate, or None when the file has no audio stream.
    Raises UnreadableMediaError for a missing or corrupt file, AudioTooLongError past max_seconds.
    """
    name = str(path)
    if not Path(path).is_file():
        raise UnreadableMediaError(f"{name}: file not found")
    try:
        with av.open(name) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            _check_declared_duration(name, container, stream, max_seconds)
            rate = stream.codec_context.sample_rate or stream.rate
            declared_samples = _declared_samples(stream, rate)
            chunks: list[np.ndarray] = []
            n_samples = 0
            for frame in container.decode(stream):
                mono = _frame_to_mono(frame)
                chunks.append(mono)
                n_samples += len(mono)
                if max_seconds is not None and n_samples > max_seconds * rate:
                    raise AudioTooLongError(f"{name}: audio is longer than the {max_seconds:.0f} s limit")
    except (AudioTooLongError, UnreadableMediaError):
        raise
    except (av.FFmpegError, ValueError, IndexError) as err:
        raise UnreadableMediaError(f"{name}: audio could not be decoded ({err})") from err
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if declared_samples is not None:
        # AAC decoders emit the encoder's padding of the last frame; the header knows the true length.
        samples = samples[:declared_samples]
    return AudioTrack(samples=samples.astype(np.float32, copy=False), sample_rate=int(rate))


def _check_declared_duration(name, container, stream, max_seconds: float | None) -> None:
    if max_seconds is None:
        return
    declared = None
    if stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        declared = container.duration / av.time_base
    if declared is not None and declared > max_seconds + 0.5:
        raise AudioTooLongError(f"{name}: audio is {declared:.1f} s long, above the {max_seconds:.0f} s limit")


def _declared_samples(stream, rate: int) -> int | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return int(round(float(stream.duration * stream.time_base) * rate))


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    fmt = frame.format
    if not fmt.is_planar:
        # Packed layouts come back as (1, N * C): deinterleave to (C, N).
        data = data.reshape(-1, len(frame.layout.channels)).T
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    return data.astype(np.float32).mean(axis=0)


def resample(track: AudioTrack, sample_rate: int) -> AudioTrack:
    """Band-limited resampling (soxr via librosa)."""
    if track.sample_rate == sample_rate or len(track.samples) == 0:
        return AudioTrack(track.samples, sample_rate if len(track.samples) == 0 else track.sample_rate)
    samples = librosa.resample(track.samples, orig_sr=track.sample_rate, target_sr=sample_rate, res_type="soxr_hq")
    return AudioTrack(np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate)


def load_audio(
    path: str | Path,
    *,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    limits: AudioLimits = AudioLimits(),
) -> AudioTrack:
    """Load speech for generation: mono, resampled to `sample_rate` (16 kHz by default).

    Raises:
        UnreadableMediaError: missing, corrupt or not an audio/video file, or no audio stream.
        EmptyAudioError / SilentAudioError / AudioTooLongError: unusable content.
    """
    name = str(path)
    track = decode_audio(path, max_seconds=limits.max_seconds)
    if track is None:
        raise UnreadableMediaError(f"{name}: the file has no audio stream")
    check_audio(track, limits, name=name)
    return resample(track, sample_rate)


def check_audio(track: AudioTrack, limits: AudioLimits, *, name: str = "<audio>") -> None:
    """Raise an AudioError naming the problem if the track is empty, too short, too long or silent."""
    if len(track.samples) == 0:
        raise EmptyAudioError(f"{name}: the audio is empty (no samples)")
    if track.duration < limits.min_seconds:
        raise EmptyAudioError(f"{name}: the audio is only {track.duration * 1000:.0f} ms long")
    if track.duration > limits.max_seconds:
        raise AudioTooLongError(
            f"{name}: audio is {track.duration:.1f} s long, above the {limits.max_seconds:.0f} s limit"
        )
    peak = float(np.max(np.abs(track.samples)))
    if peak <= 10 ** (limits.silence_peak_dbfs / 20):
        raise SilentAudioError(f"{name}: the audio is silent (peak below {limits.silence_peak_dbfs:.0f} dBFS)")


def save_wav(path: str | Path, track: AudioTrack) -> None:
    """Write 16-bit PCM WAV; the file appears whole or not at all (media.atomic)."""
    import soundfile

    with atomic_destination(path) as partial:
        soundfile.write(str(partial), track.samples, track.sample_rate, format="WAV", subtype="PCM_16")
