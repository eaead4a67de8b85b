"""Reading a prepared corpus (the output of `candor data prepare`) and splitting it by identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from media.audio import AudioTrack
from media.errors import MediaError
from media.prepare import AUDIO_FILE, CLIP_RECORD, FRAMES_FILE
from media.video import iter_frames


@dataclass(frozen=True)
class PreparedClip:
    """One prepared clip: square face crops at a constant rate, optional 16 kHz audio."""

    clip_id: str
    identity: str
    directory: Path
    n_frames: int
    fps: float
    size: int
    has_audio: bool

    @property
    def frames_path(self) -> Path:
        return self.directory / FRAMES_FILE

    @property
    def audio_path(self) -> Path:
        return self.directory / AUDIO_FILE

    def load_frames(self) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB, T == n_frames."""
        frames = np.stack([frame for _, frame in iter_frames(self.frames_path)])
        if len(frames) != self.n_frames:
            raise MediaError(f"{self.frames_path}: {len(frames)} frames, the record says {self.n_frames}")
        return frames

    def load_audio(self) -> AudioTrack:
        """16 kHz mono, exactly n_frames / fps seconds long."""
        if not self.has_audio:
            raise MediaError(f"{self.clip_id}: the clip has no audio")
        samples, rate = soundfile.read(str(self.audio_path), dtype="float32")
        return AudioTrack(samples, rate)


@dataclass(frozen=True)
class PreparedCorpus:
    """The prepared clips under a folder."""

    root: Path
    clips: tuple[PreparedClip, ...]

    @classmethod
    def load(cls, root: str | Path) -> PreparedCorpus:
        root = Path(root)
        records = sorted((root / "clips").glob(f"*/{CLIP_RECORD}"))
        if not records:
            raise MediaError(f"{root}: no prepared clips (run `candor data prepare` first)")
        clips = []
        for path in records:
            record = json.loads(path.read_text())
            if record["status"] != "prepared":
                continue
            clips.append(
                PreparedClip(
                    clip_id=record["clip_id"],
                    identity=record["identity"],
                    directory=path.parent,
                    n_frames=record["n_frames"],
                    fps=record["fps"],
                    size=record["size"],
                    has_audio=record["has_audio"],
                )
            )
        return cls(root, tuple(clips))

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(sorted({clip.identity for clip in self.clips}))

    @property
    def n_frames(self) -> int:
        return sum(clip.n_frames for clip in self.clips)

    def subset(self, identities: set[str]) -> PreparedCorpus:
        return PreparedCorpus(self.root, tuple(c for c in self.clips if c.identity in identities))

    def split(self, val_fraction: float = 0.15, seed: int = 0) -> tuple[PreparedCorpus, PreparedCorpus]:
        """Identity-disjoint (train, validation) split.

        Each identity is placed by a hash of (seed, identity), so adding clips of new people never
        moves an existing person between splits. Both splits get at least one identity.
        """
        identities = self.identities
        if len(identities) < 2:
            raise MediaError(f"{self.root}: an identity-disjoint split needs at least 2 identities")
        scores = {identity: _unit_hash(f"{seed}:{identity}") for identity in identities}
        validation = {identity for identity, score in scores.items() if score < val_fraction}
        if not validation:
            validation = {min(scores, key=scores.get)}
        if len(validation) == len(identities):
            validation.discard(max(scores, key=scores.get))
        return self.subset(set(identities) - validation), self.subset(validation)


def _unit_hash(text: str) -> float:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
