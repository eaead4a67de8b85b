"""Audio features, the motion diffusion transformer, its sampler, controls and emotion space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.audio import AudioFeatureConfig, frame_count, frame_energy, log_mel_features, silence_features
from generator.motion.config import DiffusionConfig, GuidanceScales, MotionModelConfig
from generator.motion.controls import Controls, EmotionSpace, emotion_from_clip_name
from generator.motion.diffusion import NoiseSchedule, ddim_sample
from generator.motion.model import CONDITIONS, MotionConditions, MotionDiffusionTransformer
from generator.motion.sampler import ControlValues, MotionSampler

AUDIO = AudioFeatureConfig()
SMALL = MotionModelConfig(motion_dim=10, audio_dim=AUDIO.feature_dim, window=16, context=4, emotion_dim=3,
                          width=32, layers=1, heads=2)  # fmt: skip


def _tone(seconds: float, start: float, stop: float) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * 440 * t) * ((t >= start) & (t < stop))).astype(np.float32)


def test_features_are_aligned_to_video_frames():
    samples = _tone(2.0, 0.4, 0.8)  # frames 10..19
    features = log_mel_features(samples, AUDIO)
    assert features.shape == (50, 160)
    loud = features.max(1)
    assert loud[11:19].min() > loud[:8].max() + 0.5 and loud[11:19].min() > loud[22:].max() + 0.5
    energy = frame_energy(samples, AUDIO)
    assert energy.shape == (50,) and energy[12] > energy[5] + 40


def test_frame_count_covers_partial_frames_and_silence_is_constant():
    assert frame_count(640, AUDIO) == 1 and frame_count(641, AUDIO) == 2 and frame_count(16_000, AUDIO) == 25
    silence = silence_features(5, AUDIO)
    assert np.allclose(silence, silence[0]) and np.allclose(silence, -1.0)


def test_features_of_a_prefix_match_the_whole_clip():
    """Streaming computes features on audio received so far; frames fully inside it must match batch."""
    samples = np.random.default_rng(0).standard_normal(32_000).astype(np.float32) * 0.1
    whole = log_mel_features(samples, AUDIO)
    prefix = log_mel_features(samples[: 20 * 640 + 512], AUDIO, 20)
    assert np.allclose(prefix, whole[:20], atol=1e-5)


def test_sampling_levels_and_ddim_with_an_oracle():
    schedule = NoiseSchedule(DiffusionConfig(train_steps=1000))
    levels = schedule.sampling_levels(10)
    assert len(levels) == 10 and levels[0] == 999 and levels[-1] == 0 and levels == sorted(levels, reverse=True)
    assert schedule.alpha_bar[0] > 0.99 and schedule.alpha_bar[-1] < 0.01
    target = torch.randn(2, 8, 5)
    result = ddim_sample(lambda x, t: target, schedule, torch.randn(2, 8, 5), steps=5)
    assert torch.allclose(result, target)
    with pytest.raises(ValueError):
        schedule.sampling_levels(0)


def _conditions(batch: int, window: int, config: MotionModelConfig = SMALL, keep: bool = True) -> MotionConditions:
    return MotionConditions(
        audio=torch.randn(batch, config.context + window, config.audio_dim),
        previous=torch.randn(batch, config.context, config.motion_dim),
        gaze=torch.randn(batch, 2) * 0.1,
        distance=torch.randn(batch, 1),
        emotion=torch.randn(batch, config.emotion_dim),
        keep={name: torch.full((batch,), keep) for name in CONDITIONS},
    )


def test_transformer_shapes_conditions_and_limits():
    torch.manual_seed(0)
    model = MotionDiffusionTransformer(SMALL).eval()
    noisy, levels = torch.randn(3, 16, 10), torch.tensor([0, 500, 999])
    conditions = _conditions(3, 16)
    out = model(noisy, levels, conditions)
    assert out.shape == (3, 16, 10)
    # Short windows (streaming) work; each condition matters; dropping one uses its null embedding.
    assert model(noisy[:, :6], levels, _conditions(3, 6)).shape == (3, 6, 10)
    for name in CONDITIONS:
        assert not torch.allclose(model(noisy, levels, conditions.without(name)), out, atol=1e-5), name
    with pytest.raises(ValueError, match="exceed"):
        model(torch.randn(1, 17, 10), levels[:1], _conditions(1, 17))


def test_statistics_are_buffers_that_round_trip():
    model = MotionDiffusionTransformer(SMALL)
    motion = torch.randn(100, 10) * 3 + 2
    model.set_statistics(motion, torch.randn(100, 2), torch.randn(100, 1))
    assert torch.allclose(model.denormalize_motion(model.normalize_motion(motion)), motion, atol=1e-5)
    assert "motion_std" in model.state_dict()


def test_sampler_is_deterministic_and_continues_windows():
    torch.manual_seed(0)
    model = MotionDiffusionTransformer(SMALL).eval()
    schedule = NoiseSchedule(DiffusionConfig())
    silence = silence_features(1, AUDIO)[0]
    audio = log_mel_features(_tone(1.0, 0.2, 0.6), AUDIO)

    def run(seed: int, guidance: GuidanceScales) -> torch.Tensor:
        sampler = MotionSampler(
            model, schedule, torch.zeros(10), silence, ControlValues(gaze=np.array([0.1, 0.0])),
            steps=4, guidance=guidance, generator=torch.Generator().manual_seed(seed),
        )  # fmt: skip
        return torch.cat([sampler.next_window(audio[:16]), sampler.next_window(audio[16:25])])

    first = run(0, GuidanceScales())
    assert first.shape == (25, 10) and torch.isfinite(first).all()
    assert torch.equal(first, run(0, GuidanceScales()))
    assert not torch.equal(first, run(1, GuidanceScales()))
    assert not torch.allclose(first, run(0, GuidanceScales(audio=0.0, gaze=0.0)))


def test_controls_are_validated():
    with pytest.raises(ValueError, match="emotion"):
        Controls(emotion="bored")
    with pytest.raises(ValueError, match="distance"):
        Controls(distance=5.0)
    with pytest.raises(ValueError, match="gaze"):
        Controls(gaze_degrees=(90.0, 0.0))
    assert Controls(gaze_degrees=(15.0, -5.0), distance=1.2, emotion="happy").emotion == "happy"


def test_emotion_labels_and_presets_are_offsets_from_the_same_persons_neutral():
    assert emotion_from_clip_name("dreamtalk__m030_front_happy_level3_001") == "happy"
    assert emotion_from_clip_name("lipnet__bbaf2n") is None
    rng = np.random.default_rng(0)
    happy_direction = np.zeros(6)
    happy_direction[2] = 1.0
    clip_means, labels, names = [], {}, []
    for person in range(3):
        base = rng.standard_normal(6)
        for emotion in ("neutral", "happy"):
            clip_means.append(base + (3.0 * happy_direction if emotion == "happy" else 0))
            names.append(f"p{person}_{emotion}")
            labels[names[-1]] = (f"p{person}", emotion)
    means = np.array(clip_means)
    space = EmotionSpace.fit(means, 3)
    positions = {name: space.project(mean) for name, mean in zip(names, means, strict=True)}
    space = space.with_presets(positions, labels)
    assert set(space.presets) == {"neutral", "happy"} and space.derivation["happy"] == ["p0", "p1", "p2"]
    # Moving a neutral face by the preset lands on that person's happy position.
    moved = space.project(means[0]) + space.presets["happy"]
    assert np.allclose(moved, space.project(means[1]), atol=1e-4)
    restored = EmotionSpace.from_json(space.to_json())
    assert np.allclose(restored.presets["happy"], space.presets["happy"])
