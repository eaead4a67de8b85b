"""Audio features at the video frame rate, and the learned audio encoder of the motion model.

Speech (16 kHz mono) becomes log-mel frames with a 20 ms hop, two per 40 ms video frame (25 fps),
stacked so that row t describes video frame t. The log scale is fixed (not normalised per clip) so the
same numbers come out in batch and in streaming, where the clip's statistics are never known; the
encoder learns loudness invariance from gain augmentation in training.

A pretrained speech encoder (wav2vec2 / HuBERT through `transformers`, loaded from a local folder
only) can replace the log-mel features; the default needs none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioFeatureConfig:
    """Log-mel analysis aligned to the video: `hops_per_frame` mel frames per video frame."""

    fps: float = 25.0
    n_mels: int = 80
    hops_per_frame: int = 2
    n_fft: int = 1024
    # log10 power floor: quieter bins are clipped, so silence is one stable vector.
    floor: float = -6.0

    @property
    def hop_length(self) -> int:
        hop = SAMPLE_RATE / self.fps / self.hops_per_frame
        if hop != int(hop):
            raise ValueError(f"{self.fps} fps x {self.hops_per_frame} hops does not divide {SAMPLE_RATE} Hz")
        return int(hop)

    @property
    def samples_per_frame(self) -> int:
        return self.hop_length * self.hops_per_frame

    @property
    def feature_dim(self) -> int:
        return self.n_mels * self.hops_per_frame


def frame_count(n_samples: int, config: AudioFeatureConfig) -> int:
    """Video frames that cover `n_samples` of audio (the last partial frame counts)."""
    return max(1, -(-n_samples // config.samples_per_frame))


def log_mel_features(samples: np.ndarray, config: AudioFeatureConfig, n_frames: int | None = None) -> np.ndarray:
    """(n_frames, feature_dim) float32 for 16 kHz mono `samples`; row t is video frame t.

    Mel frame k is centred at k * hop; video frame t takes mel frames 2t and 2t+1 (its first and
    second half). `n_frames` defaults to the frames that cover the audio; extra rows are silence.
    """
    n_frames = n_frames if n_frames is not None else frame_count(len(samples), config)
    needed = n_frames * config.samples_per_frame
    # Audio just past the last frame (up to half an FFT window) is used when given, so that a
    # stream's window analyses like the same frames of the whole clip; at least one FFT window long.
    padded = np.zeros(max(needed + config.n_fft // 2, config.n_fft), dtype=np.float32)
    usable = min(len(samples), len(padded))
    padded[:usable] = samples[:usable]
    mel = librosa.feature.melspectrogram(
        y=padded,
        sr=SAMPLE_RATE,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        center=True,
        power=2.0,
    )
    log_mel = np.maximum(np.log10(mel + 1e-10), config.floor)
    # Affine to roughly [-1, 1] for speech at ordinary levels.
    log_mel = (log_mel - config.floor) / 4.0 - 1.0
    frames = log_mel[:, : n_frames * config.hops_per_frame].T  # (n_frames * hops, n_mels)
    return np.ascontiguousarray(frames.reshape(n_frames, config.feature_dim), dtype=np.float32)


def silence_features(n_frames: int, config: AudioFeatureConfig) -> np.ndarray:
    return log_mel_features(np.zeros(config.samples_per_frame, dtype=np.float32), config, n_frames)


def frame_energy(samples: np.ndarray, config: AudioFeatureConfig, n_frames: int | None = None) -> np.ndarray:
    """RMS energy (dB) of each video frame's audio: what mouth openness should follow."""
    n_frames = n_frames if n_frames is not None else frame_count(len(samples), config)
    padded = np.zeros(n_frames * config.samples_per_frame, dtype=np.float32)
    usable = min(len(samples), len(padded))
    padded[:usable] = samples[:usable]
    rms = np.sqrt(np.mean(padded.reshape(n_frames, -1) ** 2, axis=1) + 1e-10)
    return 20 * np.log10(rms)


class AudioEncoder(nn.Module):
    """Per-frame audio features -> per-frame embeddings with ±3 frames of temporal context.

    Convolutions (not attention) so that a window's edges only see nearby audio: the motion model
    attends over the window itself.
    """

    def __init__(self, feature_dim: int, width: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.input = nn.Sequential(nn.Linear(feature_dim, width), nn.GELU(), nn.Dropout(dropout))
        self.context = nn.Sequential(
            nn.Conv1d(width, width, kernel_size=3, padding=1),
            nn.GELU(),
            nn.Conv1d(width, width, kernel_size=5, padding=2),
            nn.GELU(),
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, feature_dim) -> (B, T, width)."""
        hidden = self.input(features)
        hidden = hidden + self.context(hidden.transpose(1, 2)).transpose(1, 2)
        return self.norm(hidden)


class PretrainedSpeechFeatures:
    """Optional plug-in: hidden states of a local wav2vec2/HuBERT checkpoint, resampled to the frame rate.

    Train the motion model with the same plug-in (its feature_dim replaces the log-mel one).
    """

    def __init__(self, model_dir: Path, config: AudioFeatureConfig, *, layer: int = -1, device: str = "cpu") -> None:
        try:
            from transformers import AutoFeatureExtractor, AutoModel
        except ImportError as err:  # an optional dependency
            raise RuntimeError("pretrained speech features need `pip install transformers`") from err
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"{model_dir}: no local speech-encoder checkpoint (downloads are disabled)")
        self.extractor = AutoFeatureExtractor.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval().to(device)
        self.config, self.layer, self.device = config, layer, device

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def __call__(self, samples: np.ndarray, n_frames: int | None = None) -> np.ndarray:
        n_frames = n_frames if n_frames is not None else frame_count(len(samples), self.config)
        inputs = self.extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").to(self.device)
        hidden = self.model(**inputs, output_hidden_states=True).hidden_states[self.layer]  # (1, T', C)
        resampled = torch.nn.functional.interpolate(hidden.transpose(1, 2), size=n_frames, mode="linear")
        return resampled[0].T.cpu().numpy().astype(np.float32)
