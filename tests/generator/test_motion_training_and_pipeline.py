"""Motion training end to end on a generated corpus, then the pipeline and `candor generate` on its weights."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.data.gaze_turns import GazeTurnAugmentation
from generator.motion.config import MotionModelConfig
from generator.motion.controls import Controls
from generator.pipeline import GenerationOptions, TalkingFacePipeline
from generator.training.motion_trainer import MotionTrainConfig, MotionTrainer
from media.audio import AudioTrack
from media.errors import NoFaceFoundError
from media.weights import WeightsError, read_card
from tests.conftest import make_prepared_corpus
from watermark.payload import new_generation_id

REPO = Path(__file__).resolve().parents[2]
MICRO = MotionModelConfig(window=16, context=4, emotion_dim=3, width=32, layers=1, heads=2)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory, sample_clip) -> Path:
    """A weights folder: the committed face and watermark weights + a motion model trained for a few steps."""
    root = tmp_path_factory.mktemp("motion")
    prepared = make_prepared_corpus(root, sample_clip, ("anna", "ben", "cleo"), size=128)
    config = MotionTrainConfig(
        steps=4, batch_size=4, min_window=6, val_batches=1, checkpoint_every=2, log_every=1,
        gaze_turns=GazeTurnAugmentation(probability=0.5), context_noise=0.5,
    )  # fmt: skip
    trainer = MotionTrainer(config, prepared, root / "run", model_config=MICRO, device="cpu")
    trainer.train()
    weights = root / "weights"
    card = trainer.export(weights / "motion" / "tiny.safetensors")
    assert card["steps"] == 4 and card["face_preset"] == "tiny"
    for part, name in (("face", "tiny"), ("watermark", "default")):
        (weights / part).mkdir(parents=True)
        for suffix in (".safetensors", ".json"):
            shutil.copy(REPO / "weights" / part / f"{name}{suffix}", weights / part / f"{name}{suffix}")
    return weights


def test_training_logs_resumes_and_caches_latents(weights_dir):
    run = weights_dir.parent / "run"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(np.isfinite(r["total"]) for r in log)
    assert "val_clean" in log[1] and list(run.glob("latents-*.npz"))
    config = json.loads((run / "config.json").read_text())
    assert set(config["val_identities"]).isdisjoint(config["train_identities"])
    more = MotionTrainer(
        MotionTrainConfig(steps=5, batch_size=4, min_window=6, val_batches=1),
        Path(config["data"]), run, model_config=MICRO, device="cpu",
    )  # fmt: skip
    assert more.step == 4
    card = read_card(weights_dir / "motion" / "tiny.safetensors")
    assert card["emotion_space"]["axes"] and card["metrics"]["val_clean"] > 0


def test_fine_tuning_starts_from_given_weights_and_says_so(weights_dir):
    run = weights_dir.parent / "run"
    config = json.loads((run / "config.json").read_text())
    source = weights_dir / "motion" / "tiny.safetensors"
    trainer = MotionTrainer(
        MotionTrainConfig(steps=1, batch_size=4, min_window=6, val_batches=1),
        Path(config["data"]), weights_dir.parent / "fine-tune", model_config=MICRO, device="cpu", init_weights=source,
    )  # fmt: skip
    started = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    reference = MotionTrainer(
        MotionTrainConfig(steps=1, batch_size=4, min_window=6, val_batches=1),
        Path(config["data"]), weights_dir.parent / "scratch", model_config=MICRO, device="cpu",
    )  # fmt: skip
    trained = TalkingFacePipeline.from_pretrained(weights_dir, device="cpu").motion_model.state_dict()
    name = next(k for k in started if k.endswith("weight") and started[k].dim() == 2)
    assert torch.equal(started[name], trained[name])
    assert not torch.equal(reference.model.state_dict()[name], trained[name])
    trainer.train()
    card = trainer.export(weights_dir.parent / "fine-tuned.safetensors")
    assert card["initialised_from_sha256"] == read_card(source)["sha256"] and card["steps"] == 1
    assert card["gaze_weights_sha256"] == read_card(REPO / "weights" / "gaze" / "default.safetensors")["sha256"]


@pytest.fixture(scope="module")
def pipeline(weights_dir) -> TalkingFacePipeline:
    return TalkingFacePipeline.from_pretrained(weights_dir, device="cpu")


@pytest.fixture(scope="module")
def spoken() -> AudioTrack:
    from media.speech import synthesize_speech

    return synthesize_speech("Hello there.", voice="en")


def test_generate_is_in_sync_deterministic_and_watermarked(pipeline, portrait, spoken):
    options = GenerationOptions(steps=3, seed=7)
    video = pipeline.generate(portrait, spoken, Controls(), options, generation_id="00112233aabbccdd")
    expected = int(np.ceil(spoken.duration * 25 - 1e-9))
    assert video.frames.shape == (expected, 128, 128, 3) and video.frames.dtype == np.uint8
    assert video.generation_id == "00112233aabbccdd" and video.motion.shape[0] == expected
    again = pipeline.generate(portrait, spoken, Controls(), options, generation_id="00112233aabbccdd")
    assert np.array_equal(video.frames, again.frames)
    other_seed = pipeline.generate(portrait, spoken, Controls(), GenerationOptions(steps=3, seed=8))
    assert not np.array_equal(video.frames, other_seed.frames)
    # Every frame is the decoded face passed through the watermark embedder: re-render without it and compare
    # (the embedder works on whole motion windows: its corrections are shared by groups of frames).
    portrait_latents = pipeline.prepare_portrait(portrait)
    motion = torch.from_numpy(video.motion)
    count = len(motion)
    with torch.inference_mode():
        pose, dynamics = pipeline.face_model.split_motion(motion)
        source = portrait_latents.latents
        parts = (source.appearance, source.identity, source.pose, source.dynamics)
        expand = [t.expand(count, *t.shape[1:]) for t in parts]
        from generator.face.model import FaceLatents

        plain = pipeline.face_model.decode(FaceLatents(*expand), pose, dynamics).clamp(0, 1)
    plain = (plain * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(plain, video.frames)
    window = pipeline.motion_model.config.window
    rewatermarked = np.concatenate(
        [pipeline.watermarker.embed(plain[s : s + window], video.generation_id) for s in range(0, count, window)]
    ).astype(int)
    # (equal up to float rounding between batch sizes, which a codec pass can amplify on a few pixels)
    assert np.mean(np.abs(rewatermarked - video.frames) > 1) < 0.01
    assert np.abs(plain.astype(int) - video.frames).mean() > 5 * np.abs(rewatermarked - video.frames).mean()


def test_stream_emits_frames_while_audio_arrives(pipeline, portrait, spoken):
    chunk = 3200  # 0.2 s
    chunks = [spoken.samples[i : i + chunk] for i in range(0, len(spoken.samples), chunk)]
    consumed = []

    def feed():
        for piece in chunks:
            consumed.append(len(piece))
            yield piece

    options = GenerationOptions(steps=3, seed=1, stream_window=8)
    stream = pipeline.stream(portrait, feed(), Controls(), options)
    first = next(stream)
    assert first.shape == (128, 128, 3)
    assert sum(consumed) < len(spoken.samples)  # the first frame came before the audio ended
    frames = [first, *stream]
    assert len(frames) == int(np.ceil(spoken.duration * 25 - 1e-9))


def test_a_gaze_control_retargets_the_eyes_of_batch_and_streamed_frames(pipeline, portrait, spoken):
    gaze, options = Controls(gaze_degrees=(15.0, 0.0)), GenerationOptions(steps=2, seed=3)
    # The gaze network shapes the frames, so it is part of the identity the manifest records.
    assert pipeline.identity["gaze_sha256"] == read_card(REPO / "weights" / "gaze" / "default.safetensors")["sha256"]
    prepared = pipeline.prepare_portrait(portrait)
    assert pipeline.eye_target(prepared, Controls(), options) is None
    target = pipeline.eye_target(prepared, gaze, options)
    assert target is not None and target.portrait_boxes is not None
    off = replace(options, retarget_eyes=False)
    assert pipeline.eye_target(prepared, gaze, off) is None
    boxes = target.portrait_boxes * pipeline.image_size
    eyes = (
        slice(int(boxes[:, 1].min()), int((boxes[:, 1] + boxes[:, 3]).max()) + 1),
        slice(int(boxes[:, 0].min()), int((boxes[:, 0] + boxes[:, 2]).max()) + 1),
    )
    identifier = new_generation_id()

    def change(turned: np.ndarray, kept: np.ndarray) -> np.ndarray:
        return np.abs(turned.astype(np.float32) - kept).mean(axis=(0, 3))  # (S, S)

    batch = change(
        pipeline.generate(prepared, spoken, gaze, options, generation_id=identifier).frames,
        pipeline.generate(prepared, spoken, gaze, off, generation_id=identifier).frames,
    )
    streamed = change(
        np.stack(list(pipeline.stream(prepared, [spoken.samples], gaze, options, generation_id=identifier))),
        np.stack(list(pipeline.stream(prepared, [spoken.samples], gaze, off, generation_id=identifier))),
    )
    # Around the eyes the irises moved; below them only the watermark (content-dependent) differs.
    for difference in (batch, streamed):
        assert difference[eyes].mean() > 1.5
        assert difference[eyes].mean() > 4 * difference[100:].mean()


def test_controls_and_bad_inputs(pipeline, portrait, spoken):
    video = pipeline.generate(
        portrait, spoken, Controls(gaze_degrees=(15.0, 0.0), distance=1.2), GenerationOptions(steps=2)
    )
    assert len(video.frames) > 0
    with pytest.raises(NoFaceFoundError):
        pipeline.generate(np.full((256, 256, 3), 127, np.uint8), spoken)
    with pytest.raises(Exception, match="16 kHz"):
        pipeline.generate(portrait, AudioTrack(spoken.samples, 44_100))


def test_missing_or_mismatched_weights_are_clear_errors(weights_dir, tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        TalkingFacePipeline.from_pretrained(tmp_path)
    broken = tmp_path / "w"
    shutil.copytree(weights_dir, broken)
    card_path = broken / "motion" / "tiny.json"
    card = json.loads(card_path.read_text())
    card["face_weights_sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="other face weights"):
        TalkingFacePipeline.from_pretrained(broken)


def test_cli_generate_writes_a_signed_mp4_in_sync_with_the_audio(weights_dir, tmp_path, monkeypatch, spoken):
    from PIL import Image
    from typer.testing import CliRunner

    from media.audio import save_wav
    from media.samples import sample_portrait
    from media.video import probe_video
    from provenance.store import ManifestStore
    from provenance.verify import verify_asset
    from service.cli.main import app

    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "home"))
    Image.fromarray(sample_portrait()).save(tmp_path / "portrait.png")
    save_wav(tmp_path / "speech.wav", spoken)
    out = tmp_path / "talking.mp4"
    args = ["generate", "--image", str(tmp_path / "portrait.png"), "--audio", str(tmp_path / "speech.wav"),
            "--out", str(out), "--steps", "2", "--weights", str(weights_dir), "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = probe_video(out)
    assert abs(info.duration - spoken.duration) <= 1 / 25 + 1e-3
    assert (info.width, info.height) == (256, 256)  # the delivery size, upsampled from the tiny model's 128
    assert "at 256x256" in result.output
    report = verify_asset(out, trust_anchors=(tmp_path / "home" / "keys" / "ca.pem").read_text())
    assert report.to_dict()["c2pa"]["state"] == "Trusted" and report.to_dict()["ai_generated"]
    generation_id = report.c2pa.soft_binding_id
    assert generation_id in result.output and ManifestStore.sqlite(tmp_path / "home" / "manifests.db").get(
        generation_id
    )

    no_face = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(no_face)
    bad_args = [*args[:2], str(no_face), *args[3:6], str(tmp_path / "x.mp4"), *args[7:]]
    bad = CliRunner().invoke(app, bad_args)
    assert bad.exit_code == 2 and "no face" in bad.output and not (tmp_path / "x.mp4").exists()
    bad = CliRunner().invoke(app, [*args, "--emotion", "bored"])
    assert bad.exit_code == 2 and "emotion" in bad.output


def test_output_size_upsamples_before_the_watermark(pipeline, portrait, spoken):
    options = GenerationOptions(steps=2, seed=0, output_size=192)
    video = pipeline.generate(portrait, spoken, Controls(), options)
    assert video.frames.shape[1:] == (192, 192, 3)
    report = pipeline.watermarker.read_frames(video.frames)
    assert report.detected and report.id == video.generation_id
