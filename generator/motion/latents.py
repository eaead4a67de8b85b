"""Motion latents of a prepared corpus: what the motion model learns to generate, and its labels.

For every clip: X = [z_pose, z_dyn] per frame from the face model's motion encoder, log-mel audio
features per frame (clips with audio), per-frame gaze and distance labels (generator.motion.controls),
and the emotion label in its name when it has one. Extraction runs once and is cached as one .npz.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.audio import AudioFeatureConfig, log_mel_features
from generator.face.model import FaceLatentModel
from generator.gaze.estimator import GazeEstimator
from generator.motion.controls import emotion_from_clip_name, head_distance
from media.corpus import PreparedCorpus
from media.frames import to_tensor


@dataclass(frozen=True)
class MotionClip:
    clip_id: str
    identity: str
    motion: np.ndarray  # (T, D) float32
    audio: np.ndarray | None  # (T, audio_dim) float32, or None for silent clips
    gaze: np.ndarray  # (T, 2) radians
    distance: np.ndarray  # (T,)
    emotion: str | None

    @property
    def n_frames(self) -> int:
        return len(self.motion)


def motion_of_frames(model: FaceLatentModel, frames: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """(T, S, S, 3) uint8 crops -> (T, 6 + dyn_dim) motion latents."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            batch = to_tensor(frames[start : start + batch_size], device)
            pose, dynamics = model.encode_motion(batch)
            out.append(torch.cat([pose, dynamics], dim=-1).float().cpu().numpy())
    return np.concatenate(out)


def extract_motion_clips(
    corpus: PreparedCorpus,
    face_model: FaceLatentModel,
    audio_config: AudioFeatureConfig,
    *,
    on_clip: Callable[[int, int], None] | None = None,
) -> list[MotionClip]:
    estimator = GazeEstimator.from_pretrained(device=next(face_model.parameters()).device)
    clips = []
    for index, clip in enumerate(corpus.clips):
        frames = clip.load_frames()
        motion = motion_of_frames(face_model, frames)
        audio = log_mel_features(clip.load_audio().samples, audio_config, len(frames)) if clip.has_audio else None
        clips.append(
            MotionClip(
                clip_id=clip.clip_id,
                identity=clip.identity,
                motion=motion,
                audio=audio,
                gaze=estimator.estimate(frames, motion[:, :2]),
                distance=head_distance(motion[:, 5]),
                emotion=emotion_from_clip_name(clip.clip_id),
            )
        )
        if on_clip:
            on_clip(index + 1, len(corpus.clips))
    return clips


def save_motion_clips(clips: list[MotionClip], path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    for i, clip in enumerate(clips):
        arrays[f"{i}/motion"] = clip.motion
        arrays[f"{i}/gaze"] = clip.gaze
        arrays[f"{i}/distance"] = clip.distance
        if clip.audio is not None:
            arrays[f"{i}/audio"] = clip.audio
        arrays[f"{i}/meta"] = np.array([clip.clip_id, clip.identity, clip.emotion or ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)


def load_motion_clips(path: Path) -> list[MotionClip]:
    with np.load(path) as data:
        count = len({key.split("/")[0] for key in data.files})
        clips = []
        for i in range(count):
            clip_id, identity, emotion = (str(v) for v in data[f"{i}/meta"])
            clips.append(
                MotionClip(
                    clip_id=clip_id,
                    identity=identity,
                    motion=data[f"{i}/motion"],
                    audio=data[f"{i}/audio"] if f"{i}/audio" in data.files else None,
                    gaze=data[f"{i}/gaze"],
                    distance=data[f"{i}/distance"],
                    emotion=emotion or None,
                )
            )
    return clips
