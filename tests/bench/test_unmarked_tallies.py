"""The false-positive and per-bit bias readings share one pass over the unmarked clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import watermark_robustness
from bench.watermark_robustness import BIAS_VIEWS_PER_CLIP, FalsePositiveTally, clustered_bias, measure_unmarked
from media.frames import to_tensor
from watermark.config import WatermarkModelConfig
from watermark.inference import VideoWatermarker
from watermark.models.watermarker import Watermarker

SMALL = WatermarkModelConfig(n_bits=191, work_size=32, embedder_width=8, extractor_width=8, message_dim=16)


@pytest.fixture
def made(monkeypatch) -> list[str]:
    """Three generated unmarked clips from two sources; the list records each clip as it is made."""
    made: list[str] = []

    def clips(count: int, size: int):
        rng = np.random.default_rng(0)
        for source in ("a.mp4", "a.mp4", "b.png")[:count]:
            made.append(source)
            yield source, rng.integers(0, 256, size=(10, size, size, 3), dtype=np.uint8)

    monkeypatch.setattr(watermark_robustness, "unmarked_clips", clips)
    return made


def test_both_readings_come_from_one_pass_over_the_clips(made):
    torch.manual_seed(0)
    results = measure_unmarked(VideoWatermarker(Watermarker(SMALL)), 3, 48)
    assert made == ["a.mp4", "a.mp4", "b.png"]
    false_positives, bias = results["false_positives"], results["bit_bias"]
    assert false_positives["unmarked_clips"] == 3 and false_positives["size"] == 48
    assert 0 <= false_positives["smallest_p_value"] <= 1 and false_positives["detections"] == 0
    assert false_positives["sources"] == 2
    assert bias["views"] == 3 * BIAS_VIEWS_PER_CLIP and bias["clips"] == 3 and bias["sources"] == 2


def test_a_rerun_of_one_reading_makes_only_that_one(made):
    results = measure_unmarked(VideoWatermarker(Watermarker(SMALL)), 3, 48, false_positives=False)
    assert list(results) == ["bit_bias"] and len(made) == 3


def test_the_false_positive_tallys_bits_are_the_readers_at_the_identity():
    """The tally's per-bit line counts the bits the reader decodes at the identity alignment (the axis
    weight included), the same bits the bias views read, not the training path's matched filter."""
    torch.manual_seed(0)
    config = WatermarkModelConfig(
        n_bits=191, work_size=32, embedder_width=8, extractor_width=8, message_dim=16, axis_weight=0.4
    )
    watermarker = VideoWatermarker(Watermarker(config))
    clip = np.random.default_rng(1).integers(0, 256, size=(6, 48, 48, 3), dtype=np.uint8)
    tally = FalsePositiveTally(watermarker, 1, 48)
    tally.add("a.mp4", clip)
    with torch.no_grad():
        reader = watermarker.model.identity_logits(to_tensor(clip, "cpu")).mean(0).numpy()
    np.testing.assert_array_equal(tally.hard_bits[0], reader > 0)


def test_the_bias_is_judged_by_source_not_by_reading():
    """Readings that share a source are not independent: a source's readings that all agree are one
    piece of evidence, not five, while a bit that leans in every source is unfair however it is counted."""
    rng = np.random.default_rng(0)
    sources = [f"video{number // 5}.mp4" for number in range(1000)]
    repeated = np.repeat(rng.integers(0, 2, (200, 191)), 5, axis=0)
    result = clustered_bias(repeated, sources)
    assert result["sources"] == 200
    assert result["mean_clustered_standard_error"] == pytest.approx(0.5 / np.sqrt(200), rel=0.1)
    assert result["bits_not_fair_at_5_percent"] == 0
    # Counted as 1,000 independent readings, many of these fair bits would look biased.
    naive_error = 0.5 / np.sqrt(1000)
    assert np.sum(np.abs(repeated.mean(axis=0) - 0.5) > 3.6 * naive_error) > 5

    leaning = rng.integers(0, 2, (1000, 191))
    leaning[:, 7] = rng.random(1000) < 0.7
    result = clustered_bias(leaning, sources)
    assert result["bits_not_fair_at_5_percent"] == 1 and result["max_per_bit_bias"] > 0.15
    assert 0.005 < result["rms_bias_between_halves"] < 0.03  # one bit of 191 at 0.2: sqrt(0.04 / 191)
