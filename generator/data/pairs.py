"""(source frame, driving frame) pairs from one clip, for self-reenactment training."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from generator.data.frames import ClipFrameCache, to_tensor
from media.corpus import PreparedCorpus


class FramePairDataset(Dataset):
    """Item i: the i-th frame of the corpus as source, and a random frame of the same clip as driver.

    Returns a dict with `source`, `driving`: (3, S, S) float in [0, 1]; `identity`: int index into
    `identities`; `clip`: int index into the corpus clips. Randomness comes from (seed, epoch, index),
    so an epoch is reproducible; call `set_epoch` to draw new drivers.
    """

    def __init__(self, corpus: PreparedCorpus, *, seed: int = 0, min_gap: int = 0) -> None:
        if not corpus.clips:
            raise ValueError("FramePairDataset needs at least one prepared clip")
        self.corpus = corpus
        self.seed = seed
        self.min_gap = min_gap
        self.epoch = 0
        self.identities = corpus.identities
        self._identity_index = {identity: k for k, identity in enumerate(self.identities)}
        self._offsets = np.cumsum([0] + [clip.n_frames for clip in corpus.clips])
        self._cache = ClipFrameCache()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        clip_index = int(np.searchsorted(self._offsets, index, side="right") - 1)
        clip = self.corpus.clips[clip_index]
        source_index = index - int(self._offsets[clip_index])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        driving_index = self._driving_index(rng, source_index, clip.n_frames)
        frames = self._cache.get(clip)
        return {
            "source": to_tensor(frames[source_index]),
            "driving": to_tensor(frames[driving_index]),
            "identity": self._identity_index[clip.identity],
            "clip": clip_index,
        }

    def _driving_index(self, rng: np.random.Generator, source_index: int, n_frames: int) -> int:
        candidates = np.flatnonzero(np.abs(np.arange(n_frames) - source_index) >= self.min_gap)
        if len(candidates) == 0:
            return source_index
        return int(rng.choice(candidates))
