"""Training windows for the motion model, sampled from extracted motion latents (in memory)."""

from __future__ import annotations

import numpy as np
import torch

from generator.audio import AudioFeatureConfig, silence_features
from generator.motion.latents import MotionClip


class MotionWindowSampler:
    """Random windows of `window` frames with the `context` frames before them.

    Batch: motion (B, W, D); previous (B, K, D) with has_previous (B,) (False at a clip start);
    audio (B, K + W, A) with has_audio (B,) (False for silent clips); gaze (B, 2) and distance (B, 1)
    window means; emotion (B, E) clip positions in the emotion space.
    Clips are drawn in proportion to the windows they hold.
    """

    def __init__(
        self,
        clips: list[MotionClip],
        emotion_positions: dict[str, np.ndarray],
        audio_config: AudioFeatureConfig,
        *,
        context: int,
        gain_jitter: float = 0.25,
    ) -> None:
        self.clips = clips
        self.emotion = emotion_positions
        self.context = context
        self.gain_jitter = gain_jitter
        self.silence = silence_features(1, audio_config)[0]
        self.audio_dim = audio_config.feature_dim

    def sample(self, batch: int, window: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        usable = [c for c in self.clips if c.n_frames >= window]
        if not usable:
            raise ValueError(f"no clip has {window} frames")
        weights = np.array([c.n_frames - window + 1 for c in usable], dtype=np.float64)
        picks = rng.choice(len(usable), size=batch, p=weights / weights.sum())
        out: dict[str, list] = {k: [] for k in ("motion", "previous", "has_previous", "audio", "has_audio")}
        out.update(gaze=[], distance=[], emotion=[])
        k = self.context
        for pick in picks:
            clip = usable[pick]
            start = int(rng.integers(0, clip.n_frames - window + 1))
            has_previous = start >= k
            previous = clip.motion[start - k : start] if has_previous else np.zeros((k, clip.motion.shape[1]))
            if clip.audio is not None:
                padded = np.concatenate([np.repeat(self.silence[None], k, 0), clip.audio])
                audio = padded[start : start + k + window].copy()
                audio += rng.uniform(-self.gain_jitter, self.gain_jitter)
                np.maximum(audio, -1.0, out=audio)
            else:
                audio = np.repeat(self.silence[None], k + window, 0)
            out["motion"].append(clip.motion[start : start + window])
            out["previous"].append(previous)
            out["has_previous"].append(has_previous)
            out["audio"].append(audio)
            out["has_audio"].append(clip.audio is not None)
            out["gaze"].append(clip.gaze[start : start + window].mean(0))
            out["distance"].append([clip.distance[start : start + window].mean()])
            out["emotion"].append(self.emotion[clip.clip_id])
        return {
            name: torch.as_tensor(np.asarray(values), dtype=torch.bool if name.startswith("has_") else torch.float32)
            for name, values in out.items()
        }
