"""(audio window, frame window) sequences, for training audio-driven motion."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from generator.data.frames import ClipFrameCache, to_tensor
from media.corpus import PreparedCorpus


class AudioFrameWindowDataset(Dataset):
    """Fixed-length windows of `window` frames and the audio under them, from clips with audio.

    Item: `frames` (W, 3, S, S) float in [0, 1]; `audio` (W * samples_per_frame,) float32 16 kHz mono,
    sample-aligned with the frames; `start`: first frame index; `clip`: index into the corpus clips.
    Windows start every `stride` frames; clips shorter than one window are left out.
    """

    def __init__(self, corpus: PreparedCorpus, *, window: int = 25, stride: int | None = None) -> None:
        self.corpus = corpus
        self.window = window
        self.stride = stride or window
        self._windows = [
            (clip_index, start)
            for clip_index, clip in enumerate(corpus.clips)
            if clip.has_audio
            for start in range(0, clip.n_frames - window + 1, self.stride)
        ]
        if not self._windows:
            raise ValueError(f"no clip with audio is at least {window} frames long")
        self._cache = ClipFrameCache()
        self._audio: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        clip_index, start = self._windows[index]
        clip = self.corpus.clips[clip_index]
        if clip_index not in self._audio:
            self._audio[clip_index] = clip.load_audio().samples
        samples_per_frame = int(round(16_000 / clip.fps))
        audio = self._audio[clip_index][start * samples_per_frame : (start + self.window) * samples_per_frame]
        frames = self._cache.get(clip)[start : start + self.window]
        return {
            "frames": to_tensor(frames),
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "start": start,
            "clip": clip_index,
        }
