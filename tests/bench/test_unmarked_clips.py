"""The false positives' unmarked clips: every kind the issue names, in order, and Candor's own generations
as its generator renders them before the mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import watermark_robustness
from bench.watermark_robustness import CLIP_FRAMES, FalsePositiveTally, unmarked_clips
from generator.pipeline import GenerationOptions, TalkingFacePipeline
from media.audio import AudioTrack, load_audio, save_wav
from media.image import load_image, save_image
from media.samples import sample_portrait, synth_speech, write_sample_clip
from watermark.config import WatermarkModelConfig
from watermark.inference import VideoWatermarker
from watermark.models.watermarker import Watermarker

SIZE = 64


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch) -> Path:
    """A corpus laid out like ../shared/data: one real video, one other generator's, a portrait with a
    face, a picture without one, and a speech clip."""
    for folder in ("videos", "videos_synthetic", "portraits/real", "audio"):
        (tmp_path / folder).mkdir(parents=True)
    write_sample_clip(tmp_path / "videos" / "real.mp4", seconds=4.2, size=96)
    write_sample_clip(tmp_path / "videos_synthetic" / "other.mp4", seconds=2.2, size=96, seed=1)
    save_image(tmp_path / "portraits" / "real" / "astronaut.png", sample_portrait())
    save_image(tmp_path / "portraits" / "real" / "grey.png", np.full((96, 96, 3), 128, np.uint8))
    save_wav(tmp_path / "audio" / "speech.wav", synth_speech(3.0))
    monkeypatch.setattr(watermark_robustness, "SHARED_DATA", tmp_path)
    return tmp_path


def test_every_kind_comes_in_order_up_to_the_count(corpus):
    clips = list(unmarked_clips(8, SIZE))
    sources = [source for source, _ in clips]
    # Two windows of the 4.2-s video, one of the 2.2-s one; the grey picture has no face to generate
    # from, but still animates.
    assert sources == [
        "videos/real.mp4",
        "videos/real.mp4",
        "videos_synthetic/other.mp4",
        "candor/astronaut.png",
        "portraits/astronaut.png",
        "portraits/grey.png",
        "portraits/astronaut.png",
        "portraits/grey.png",
    ]
    assert all(clip.shape == (CLIP_FRAMES, SIZE, SIZE, 3) and clip.dtype == np.uint8 for _, clip in clips)
    # The animations go round the portraits with a new seed each time.
    assert not np.array_equal(clips[4][1], clips[6][1])


def test_candors_unmarked_clip_is_what_the_pipeline_marks(corpus):
    """The bench reads the generator's frames exactly as the pipeline would hand them to the watermark."""
    (source, unmarked), *_ = list(watermark_robustness.candor_unmarked(SIZE))
    assert source == "candor/astronaut.png"
    pipeline = TalkingFacePipeline.from_pretrained(device="cpu")
    speech = load_audio(corpus / "audio" / "speech.wav")
    opening = AudioTrack(speech.samples[: 2 * speech.sample_rate], speech.sample_rate)
    image = load_image(corpus / "portraits" / "real" / "astronaut.png")
    generation_id = "0123456789abcdef"
    marked = pipeline.generate(
        image, opening, options=GenerationOptions(output_size=SIZE, seed=0), generation_id=generation_id
    ).frames
    np.testing.assert_array_equal(marked, pipeline.watermarker.embed(unmarked, generation_id))
    assert not np.array_equal(marked, unmarked)


def test_the_tally_counts_each_kind_on_its_own():
    watermarker = VideoWatermarker(
        Watermarker(WatermarkModelConfig(n_bits=191, work_size=32, embedder_width=8, extractor_width=8, message_dim=16))
    )
    tally = FalsePositiveTally(watermarker, 3, 48)
    rng = np.random.default_rng(0)
    for source in ("videos/a.mp4", "videos/a.mp4", "candor/b.png"):
        tally.add(source, rng.integers(0, 256, size=(6, 48, 48, 3), dtype=np.uint8))
    by_kind = tally.result()["by_kind"]
    assert list(by_kind) == ["videos", "candor"]
    assert by_kind["videos"]["clips"] == 2 and by_kind["videos"]["sources"] == 1
    assert by_kind["candor"]["clips"] == 1 and by_kind["candor"]["detections"] == 0
    assert by_kind["candor"]["smallest_p_value"] == tally.p_values[2]
