from __future__ import annotations

import pytest
import torch

from generator.data import AudioFrameWindowDataset, FramePairDataset
from media.corpus import PreparedCorpus
from tests.conftest import make_prepared_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sample_clip) -> PreparedCorpus:
    root = make_prepared_corpus(tmp_path_factory.mktemp("corpus"), sample_clip, ("alice", "bob", "carol"), 32)
    return PreparedCorpus.load(root)


def test_frame_pairs_come_from_one_clip_and_are_reproducible(corpus):
    dataset = FramePairDataset(corpus, seed=0, min_gap=5)
    assert len(dataset) == corpus.n_frames
    item = dataset[7]
    assert item["source"].shape == (3, 32, 32) and item["source"].dtype == torch.float32
    assert 0.0 <= float(item["source"].min()) and float(item["source"].max()) <= 1.0
    assert torch.equal(dataset[7]["driving"], item["driving"])
    dataset.set_epoch(1)
    assert any(
        not torch.equal(dataset[i]["driving"], FramePairDataset(corpus, min_gap=5)[i]["driving"]) for i in range(10)
    )


def test_audio_frame_windows_are_aligned(corpus):
    dataset = AudioFrameWindowDataset(corpus, window=20, stride=10)
    assert len(dataset) == 3 * 4  # 50 frames: windows start at 0, 10, 20, 30
    item = dataset[1]
    assert item["frames"].shape == (20, 3, 32, 32)
    assert item["audio"].shape == (20 * 640,)
    assert item["start"] == 10


def test_split_datasets_share_no_identity(corpus):
    train, val = corpus.split(val_fraction=0.34, seed=0)
    train_ids = set(FramePairDataset(train).identities)
    val_ids = set(FramePairDataset(val).identities)
    assert train_ids and val_ids and not train_ids & val_ids
