from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from media.corpus import PreparedCorpus
from media.prepare import PrepareConfig, find_source_clips, prepare_corpus
from media.video import probe_video, write_video


@pytest.fixture()
def source_dir(tmp_path, sample_clip):
    """VoxCeleb2-style layout: two identities with a clip each, plus a faceless clip and a corrupt file."""
    src = tmp_path / "src"
    for identity in ("id001", "id002"):
        (src / identity / "vid").mkdir(parents=True)
        shutil.copy(sample_clip, src / identity / "vid" / "00001.mp4")
    noise = np.random.default_rng(0).integers(0, 255, (40, 96, 96, 3), dtype=np.uint8)
    write_video(src / "noface.mp4", noise)
    (src / "broken.mp4").write_bytes(b"not a video at all")
    return src


def test_prepare_writes_crops_audio_and_records(tmp_path, source_dir):
    out = tmp_path / "out"
    outcomes = {o.clip_id: o for o in prepare_corpus(source_dir, out, PrepareConfig(size=64))}
    assert outcomes["id001_vid_00001"].status == "prepared"
    assert outcomes["noface"].status == "skipped" and "face" in outcomes["noface"].reason
    assert outcomes["broken"].status == "skipped"

    record = json.loads((out / "clips" / "id001_vid_00001" / "clip.json").read_text())
    assert record["identity"] == "id001" and record["identity_source"] == "layout"
    assert record["n_frames"] == 50 and record["has_audio"]
    assert len(record["crop_boxes"]) == 50
    info = probe_video(out / "clips" / "id001_vid_00001" / "frames.mp4")
    assert (info.width, info.height, info.fps) == (64, 64, 25.0)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips_prepared"] == 2 and summary["frames"] == 100
    assert set(summary["skipped"]) == {"noface", "broken"}


def test_prepare_is_resumable(tmp_path, source_dir):
    out = tmp_path / "out"
    prepare_corpus(source_dir, out, PrepareConfig(size=64))
    statuses = {o.clip_id: o.status for o in prepare_corpus(source_dir, out, PrepareConfig(size=64))}
    assert set(statuses.values()) == {"done-before"}
    # A different size is different work: nothing is reused.
    statuses = {o.clip_id: o.status for o in prepare_corpus(source_dir, out, PrepareConfig(size=32))}
    assert "done-before" not in statuses.values()


def test_manifest_gives_identities(tmp_path, sample_clip):
    src = tmp_path / "flat"
    src.mkdir()
    shutil.copy(sample_clip, src / "a.mp4")
    (src / "MANIFEST.tsv").write_text("file\tidentity\na.mp4\tastronaut\n")
    (clip,) = find_source_clips(src)
    assert (clip.identity, clip.identity_source) == ("astronaut", "manifest")


def test_prepared_corpus_loads_and_splits_by_identity(tmp_path, source_dir):
    out = tmp_path / "out"
    prepare_corpus(source_dir, out, PrepareConfig(size=64))
    corpus = PreparedCorpus.load(out)
    assert len(corpus.clips) == 2 and corpus.n_frames == 100
    train, val = corpus.split(val_fraction=0.5, seed=3)
    assert train.identities and val.identities
    assert not set(train.identities) & set(val.identities)
    frames = corpus.clips[0].load_frames()
    assert frames.shape == (50, 64, 64, 3)
    assert corpus.clips[0].load_audio().duration == pytest.approx(2.0, abs=1e-3)


@pytest.mark.shared_data
def test_prepare_real_clips_from_shared_corpus(tmp_path, shared_data):
    src = tmp_path / "videos"
    src.mkdir()
    for name in ("dreamtalk__m030_front_neutral_level1_001.mp4", "lipnet__bbaf2n.mpg"):
        shutil.copy(shared_data / "videos" / name, src / name)
    outcomes = prepare_corpus(src, tmp_path / "out", PrepareConfig(size=64))
    assert [o.status for o in outcomes] == ["prepared", "prepared"]
