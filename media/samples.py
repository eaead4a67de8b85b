"""Sample media the project makes itself: bundled defaults for the demo and fixtures for tests.

The portrait comes from scikit-image's bundled astronaut photo (public domain, NASA); speech-like
audio is synthesised here, so nothing is downloaded and no third-party media is redistributed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy.signal import lfilter

from media.audio import SPEECH_SAMPLE_RATE, AudioTrack
from media.video import write_video

# Formant frequencies (Hz) of a few vowels; enough to make the spectrum move like speech.
_VOWEL_FORMANTS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
)


def sample_portrait() -> np.ndarray:
    """(512, 512, 3) uint8 RGB: scikit-image's astronaut photo (Eileen Collins, NASA, public domain)."""
    from skimage import data

    return data.astronaut()


def synth_speech(seconds: float, *, sample_rate: int = SPEECH_SAMPLE_RATE, seed: int = 0) -> AudioTrack:
    """Speech-like audio: a glottal pulse train through vowel formant filters, in syllables with pauses.

    Not intelligible speech; it has speech's pitch, formant and energy dynamics, which is what media
    and feature tests need.
    """
    rng = np.random.default_rng(seed)
    n_total = int(seconds * sample_rate)
    out = np.zeros(n_total, dtype=np.float64)
    position = 0
    while position < n_total:
        syllable = int(rng.uniform(0.12, 0.3) * sample_rate)
        pause = int(rng.uniform(0.02, 0.15) * sample_rate)
        pitch = rng.uniform(100, 220)
        segment = _voiced_segment(syllable, pitch, _VOWEL_FORMANTS[rng.integers(len(_VOWEL_FORMANTS))], sample_rate)
        end = min(position + syllable, n_total)
        out[position:end] = segment[: end - position]
        position = end + pause
    out *= 0.5 / max(np.max(np.abs(out)), 1e-9)
    return AudioTrack(out.astype(np.float32), sample_rate)


def _voiced_segment(n: int, pitch: float, formants: tuple[int, ...], sample_rate: int) -> np.ndarray:
    pulses = np.zeros(n)
    pulses[:: max(int(sample_rate / pitch), 1)] = 1.0
    signal = pulses
    for formant in formants:
        # Two-pole resonator at the formant frequency with ~80 Hz bandwidth.
        radius = np.exp(-np.pi * 80 / sample_rate)
        theta = 2 * np.pi * formant / sample_rate
        signal = lfilter([1.0], [1.0, -2 * radius * np.cos(theta), radius**2], signal)
    return signal * np.hanning(n)


def animate_portrait(image: np.ndarray, n_frames: int, *, size: int = 256, seed: int = 0) -> np.ndarray:
    """(n_frames, size, size, 3) uint8: the image under a slow, smooth sway, zoom and tilt.

    Stands in for a talking-head clip wherever a test or demo needs a moving face without real video.
    """
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    phases = rng.uniform(0, 2 * np.pi, 4)
    frames = []
    for t in range(n_frames):
        angle = 4.0 * np.sin(0.9 * t / 25 + phases[0])
        scale = 1.0 + 0.05 * np.sin(0.6 * t / 25 + phases[1])
        shift = np.array([np.sin(0.7 * t / 25 + phases[2]), np.sin(0.5 * t / 25 + phases[3])]) * 0.03 * width
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
        matrix[:, 2] += shift
        moved = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT101)
        frames.append(cv2.resize(moved, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def write_sample_clip(path: str | Path, *, seconds: float = 3.0, size: int = 256, seed: int = 0) -> Path:
    """An MP4 (H.264 + AAC) of the animated sample portrait with synthetic speech."""
    fps = 25
    frames = animate_portrait(sample_portrait(), int(seconds * fps), size=size, seed=seed)
    return write_video(path, frames, fps=fps, audio=synth_speech(seconds, seed=seed))
