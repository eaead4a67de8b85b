"""Shared fixtures: every media fixture is generated here, nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from media.audio import AudioTrack
from media.samples import sample_portrait, synth_speech, write_sample_clip

SHARED_DATA = Path(os.environ.get("CANDOR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """scikit-image's astronaut photo, (512, 512, 3) uint8."""
    return sample_portrait()


@pytest.fixture(scope="session")
def speech() -> AudioTrack:
    return synth_speech(2.0, seed=1)


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory) -> Path:
    """A 2-second 192x192 talking-portrait MP4 with audio (the face is large enough for Haar at every frame)."""
    return write_sample_clip(tmp_path_factory.mktemp("clips") / "sample.mp4", seconds=2.0, size=192)


def make_prepared_corpus(root: Path, clip: Path, identities: tuple[str, ...], size: int) -> Path:
    """A prepared corpus of one copy of `clip` per identity, in VoxCeleb2 layout; returns its folder."""
    import shutil

    from media.prepare import PrepareConfig, prepare_corpus

    for identity in identities:
        (root / "src" / identity / "v").mkdir(parents=True)
        shutil.copy(clip, root / "src" / identity / "v" / "clip.mp4")
    prepare_corpus(root / "src", root / "prepared", PrepareConfig(size=size))
    return root / "prepared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared corpus; tests using it are skipped when it is absent."""
    if not (SHARED_DATA / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared corpus not found at {SHARED_DATA}")
    return SHARED_DATA
