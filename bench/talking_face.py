"""Benchmark of the talking-face generator (issue: Generator II).

    python -m bench.talking_face [--device cpu|cuda] [--presets tiny base full] [--quick]
        [--parts speed motion controls round-trip long portraits] [--name NAME] [--weights DIR] [--merge]

Measures, and writes to bench/results/talking_face.{json,md,png}:
- speed: batch and streaming frames per second and start latency per preset (presets without trained
  weights are timed with untrained weights of the same architecture; the numbers are architecture speed);
- motion statistics against real clips of held-out identities (from ../shared/data prepared at 128 px):
  mean head-pose change between frames (VASA-1's delta-P) and the correlation of mouth openness with
  audio energy;
- controls measured on the outputs: gaze +15 vs -15 degrees (at 256 px, with and without eye
  retargeting), distance 0.8 vs 1.25, emotion presets;
- the renderer round trip: how much of a known latent change (pose, emotion, iris shift) the renderer shows;
- a 60-second generation: face scale and identity per 2-second window (drift);
- artistic portraits x speech in several languages: every pair generates without error.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.common import SHARED_DATA, device_description, git_commit, read_results, write_results
from generator.audio import AudioFeatureConfig, frame_energy
from generator.face.config import face_preset
from generator.face.model import FaceLatentModel
from generator.gaze.estimator import GazeEstimator
from generator.gaze.eyes import EyeFinder
from generator.gaze.redirect import EyeLayout, read_iris_offsets, redirect_gaze
from generator.gaze.retarget import EyeRetargeter
from generator.motion.config import DiffusionConfig, GuidanceScales, motion_preset
from generator.motion.controls import EMOTION_PRESETS, Controls, EmotionSpace
from generator.motion.model import MotionDiffusionTransformer
from generator.pipeline import DELIVERY_SIZE, GenerationOptions, PreparedPortrait, TalkingFacePipeline
from media.audio import AudioTrack, load_audio
from media.faces import FaceDetector
from media.frames import to_tensor, to_uint8
from media.image import load_image
from media.samples import sample_portrait
from media.speech import synthesize_speech
from watermark.inference import VideoWatermarker

PREPARED = Path("data/prepared-128")
PARTS = ("speed", "motion", "controls", "round-trip", "long", "portraits")
SPEECH_TEXT = (
    "The quick brown fox jumps over the lazy dog. Speech moves the lips, the head nods along, and the eyes "
    "blink now and then. This sentence is long enough to fill several windows of generated motion."
)


# -- measurements on frames -------------------------------------------------------------------
def mouth_openness(frames: np.ndarray) -> np.ndarray:
    """Darkness of the mouth region of aligned face crops (an open mouth shows the dark cavity)."""
    side = frames.shape[1]
    region = frames[:, int(0.66 * side) : int(0.82 * side), int(0.38 * side) : int(0.62 * side)].astype(np.float32)
    luminance = region @ np.array([0.299, 0.587, 0.114], np.float32)
    return -luminance.reshape(len(frames), -1).mean(1)


def mouth_activity(frames: np.ndarray) -> np.ndarray:
    """Mean absolute frame-to-frame change in the mouth region (talking moves the lips)."""
    side = frames.shape[1]
    region = frames[:, int(0.66 * side) : int(0.82 * side), int(0.38 * side) : int(0.62 * side)].astype(np.float32)
    change = np.abs(np.diff(region.mean(-1), axis=0)).reshape(len(frames) - 1, -1).mean(1)
    return np.concatenate([change[:1], change])


def pose_changes(motion: np.ndarray) -> np.ndarray:
    """(T - 1,) absolute frame-to-frame change of (yaw, pitch, roll), mean over the three angles, in
    degrees of the face latent's pose."""
    return np.degrees(np.abs(np.diff(motion[:, :3], axis=0))).mean(1)


def delta_pose(motion: np.ndarray) -> float:
    """Mean head-pose change between consecutive frames of one clip (degrees)."""
    return float(pose_changes(motion).mean())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-8 or b.std() < 1e-8:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def face_scales(frames: np.ndarray, detector: FaceDetector) -> np.ndarray:
    """Side of the largest detected face box / crop side (NaN where none is found)."""
    scales = []
    for frame in frames:
        boxes = detector.detect(frame)
        scales.append(max(b.width for b in boxes) / frame.shape[1] if boxes else np.nan)
    return np.array(scales)


@torch.inference_mode()
def identity_similarity(pipeline: TalkingFacePipeline, portrait: PreparedPortrait, frames: np.ndarray) -> np.ndarray:
    tensor = to_tensor(frames, pipeline.device)
    ids = pipeline.face_model.identity_encoder(tensor)
    return (ids @ portrait.latents.identity[0]).cpu().numpy()


@torch.inference_mode()
def reencoded_motion(pipeline: TalkingFacePipeline, frames: np.ndarray) -> np.ndarray:
    tensor = to_tensor(frames, pipeline.device)
    pose, dynamics = pipeline.face_model.encode_motion(tensor)
    return torch.cat([pose, dynamics], -1).cpu().numpy()


# -- speed ------------------------------------------------------------------------------------
def untrained_pipeline(preset: str, device: torch.device) -> TalkingFacePipeline:
    """Architecture timing for presets whose weights are not trained yet."""
    face = FaceLatentModel(face_preset(preset))
    motion_config = motion_preset(preset)
    motion = MotionDiffusionTransformer(motion_config)
    dyn = face.config.dyn_dim
    space = EmotionSpace(np.zeros(dyn, np.float32), np.eye(motion_config.emotion_dim, dyn, dtype=np.float32))
    return TalkingFacePipeline(
        face, motion, VideoWatermarker.from_pretrained(device=device), space, AudioFeatureConfig(), DiffusionConfig(),
        EyeRetargeter.from_pretrained(), identity={"name": "untrained", "version": preset}, device=device,
    )  # fmt: skip


def measure_speed(
    pipeline: TalkingFacePipeline,
    portrait: np.ndarray,
    audio: AudioTrack,
    steps: int,
    output_size: int | None = None,
    controls: Controls = Controls(),
) -> dict:
    options = GenerationOptions(steps=steps, seed=0, output_size=output_size)
    pipeline.generate(portrait, AudioTrack(audio.samples[:16_000], 16_000), controls, options)  # warm-up
    first_window: list[float] = []
    started = time.perf_counter()

    def note_first(done: int, total: int) -> None:
        if not first_window:
            first_window.append(time.perf_counter() - started)

    video = pipeline.generate(portrait, audio, controls, options, on_progress=note_first)
    batch_seconds = time.perf_counter() - started
    # Streaming, compute-bound: all audio available, chunks of 40 ms.
    chunks = [audio.samples[i : i + 640] for i in range(0, len(audio.samples), 640)]
    started = time.perf_counter()
    first_frame = None
    count = 0
    for _ in pipeline.stream(portrait, iter(chunks), controls, options):
        count += 1
        if first_frame is None:
            first_frame = time.perf_counter() - started
    stream_seconds = time.perf_counter() - started
    # Streaming at real-time arrival: the latency a live caller sees after its first chunk.
    chunk_seconds = 0.04

    def live():
        start = time.perf_counter()
        for index, chunk in enumerate(chunks):
            delay = index * chunk_seconds - (time.perf_counter() - start)
            if delay > 0:
                time.sleep(delay)
            yield chunk

    started = time.perf_counter()
    live_first = None
    for _ in pipeline.stream(portrait, live(), controls, options):
        live_first = time.perf_counter() - started
        break
    window_audio = (options.stream_window * pipeline.audio_config.samples_per_frame + 512) / 16_000
    return {
        "frames": len(video.frames),
        "resolution": output_size or pipeline.image_size,
        "sampler_steps": steps,
        "batch_fps": len(video.frames) / batch_seconds,
        "batch_first_window_seconds": first_window[0],
        "batch_motion_seconds": video.timings["motion_seconds"],
        "batch_render_seconds": video.timings["render_seconds"],
        "stream_fps": count / stream_seconds,
        "stream_start_latency_compute_seconds": first_frame,
        "stream_start_latency_live_seconds": live_first,
        "stream_window_frames": options.stream_window,
        "stream_audio_needed_seconds": window_audio,
    }


# -- quality ----------------------------------------------------------------------------------
def control_portraits(
    pipeline: TalkingFacePipeline, bundled: PreparedPortrait, extra: int = 3
) -> list[PreparedPortrait]:
    """The bundled portrait and, where the shared corpus is present, a few of its real portraits."""
    folder = SHARED_DATA / "portraits" / "real"
    files = sorted(folder.iterdir())[:extra] if folder.is_dir() else []
    return [bundled] + [pipeline.prepare_portrait(load_image(path)) for path in files]


def held_out_clips(pipeline_card: dict, limit: int):
    from media.corpus import PreparedCorpus

    corpus = PreparedCorpus.load(PREPARED)
    held_out = set(pipeline_card["data"]["val_identities"])
    return [c for c in corpus.clips if c.identity in held_out and c.has_audio][:limit]


def motion_statistics(
    pipeline: TalkingFacePipeline, clips, steps: int, audio_guidance: float = 0.5, seeds: tuple[int, ...] = (0,)
) -> dict:
    """Generated vs real motion on held-out clips (each clip's first frame as the portrait, its audio as
    the speech), over every clip x seed: head motion varies a lot between samples of the same input."""
    rows, real_changes, generated_changes = [], [], []
    for clip, seed in ((clip, seed) for clip in clips for seed in seeds):
        frames = clip.load_frames()
        audio = clip.load_audio()
        energy = frame_energy(audio.samples, pipeline.audio_config, len(frames))
        portrait = pipeline.encode_crop(frames[0])
        options = GenerationOptions(steps=steps, seed=seed, guidance=GuidanceScales(audio=audio_guidance))
        video = pipeline.generate(portrait, audio, options=options)
        n = min(len(frames), len(video.frames))
        # Both measured the same way, on frames: the motion encoder applied to real and generated video.
        real_motion = reencoded_motion(pipeline, frames[:n])
        generated_motion = reencoded_motion(pipeline, video.frames[:n])
        real_changes.append(pose_changes(real_motion))
        generated_changes.append(pose_changes(generated_motion))
        rows.append(
            {
                "clip": clip.clip_id,
                "seed": seed,
                "frames": n,
                "real_delta_pose_deg": delta_pose(real_motion),
                "generated_delta_pose_deg": delta_pose(generated_motion),
                "generated_latent_delta_pose_deg": delta_pose(video.motion[:n]),
                "real_mouth_energy_r": correlation(mouth_openness(frames[:n]), energy[:n]),
                "generated_mouth_energy_r": correlation(mouth_openness(video.frames[:n]), energy[:n]),
                "real_mouth_activity_energy_r": correlation(mouth_activity(frames[:n]), energy[:n]),
                "generated_mouth_activity_energy_r": correlation(mouth_activity(video.frames[:n]), energy[:n]),
            }
        )
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key not in ("clip", "seed", "frames")}
    # delta-P as VASA-1 defines it: the mean over every pair of consecutive frames of the test set. (The
    # mean of per-clip means, also reported, weighs a 3-second clip like a 20-second one.)
    pooled = {
        "real_delta_pose_deg": float(np.concatenate(real_changes).mean()),
        "generated_delta_pose_deg": float(np.concatenate(generated_changes).mean()),
    }
    ratio = pooled["generated_delta_pose_deg"] / pooled["real_delta_pose_deg"]
    return {
        "audio_guidance": audio_guidance,
        "seeds": list(seeds),
        "clips": rows,
        "mean": mean,
        "pooled": pooled,
        "delta_pose_ratio": ratio,
        "delta_pose_within_25_percent": abs(ratio - 1) <= 0.25,
        "delta_pose_ratio_clip_mean": mean["generated_delta_pose_deg"] / mean["real_delta_pose_deg"],
        "mouth_correlation_at_least_real": mean["generated_mouth_energy_r"] >= mean["real_mouth_energy_r"],
        "mouth_activity_correlation_at_least_real": mean["generated_mouth_activity_energy_r"]
        >= mean["real_mouth_activity_energy_r"],
    }


def control_effects(
    pipeline: TalkingFacePipeline, portraits: list[PreparedPortrait], audio: AudioTrack, steps: int, seeds=(1, 2)
) -> dict:
    """Each control's effect on the outputs, averaged over portraits x seeds: a single generation mixes
    the control's effect with the sampler's other choices (pose, mouth), which the average removes.
    Each run compares two generations with the same portrait, seed and audio."""
    estimator, detector = GazeEstimator.from_pretrained(), FaceDetector()
    runs = [(portrait, GenerationOptions(steps=steps, seed=seed)) for portrait in portraits for seed in seeds]
    space = pipeline.emotion_space

    def frames_gaze(video) -> float:
        motion = reencoded_motion(pipeline, resized(video.frames, pipeline.image_size))
        return float(np.degrees(np.nanmean(estimator.estimate(video.frames, motion[:, :2])[:, 0])))

    # Gaze is read at the size `candor generate` delivers: Haar misses most eyes of a 128 px crop, and the
    # estimator then sees only the head. Once as delivered (eyes retargeted), once with the motion model
    # alone (retargeting off), to tell the two apart.
    gaze = {mode: {-15.0: [], 15.0: []} for mode in ("retargeted", "motion_only")}
    scale, latent_scale = {0.8: [], 1.25: []}, {0.8: [], 1.25: []}
    moved: dict[str, list] = {name: [] for name in EMOTION_PRESETS[1:] if name in space.presets}
    moved_latent: dict[str, list] = {name: [] for name in moved}
    for portrait, options in runs:
        for mode, by_theta in gaze.items():
            gaze_options = replace(options, output_size=DELIVERY_SIZE, retarget_eyes=mode == "retargeted")
            for theta, readings in by_theta.items():
                video = pipeline.generate(portrait, audio, Controls(gaze_degrees=(theta, 0.0)), gaze_options)
                readings.append(frames_gaze(video))
        for value in scale:
            video = pipeline.generate(portrait, audio, Controls(distance=value), options)
            scale[value].append(float(np.nanmean(face_scales(video.frames[::5], detector))))
            latent_scale[value].append(float(video.motion[:, 5].mean()))
        neutral = pipeline.generate(portrait, audio, Controls(emotion="neutral"), options)
        on_frames = space.project(reencoded_motion(pipeline, neutral.frames)[:, 6:].mean(0))
        # Also in the generated motion itself, before rendering: tells the motion model's response apart
        # from what the face renderer shows of it.
        in_motion = space.project(neutral.motion[:, 6:].mean(0))
        for name in moved:
            video = pipeline.generate(portrait, audio, Controls(emotion=name), options)
            moved[name].append(space.project(reencoded_motion(pipeline, video.frames)[:, 6:].mean(0)) - on_frames)
            moved_latent[name].append(space.project(video.motion[:, 6:].mean(0)) - in_motion)
    farther = np.array(scale[1.25]) < np.array(scale[0.8])
    emotions = {}
    for name in moved:
        offset = space.presets[name]
        shifts, latent_shifts = np.array(moved[name]), np.array(moved_latent[name])
        emotions[name] = {
            "cosine_to_preset": cosine(shifts.mean(0), offset),
            "cosine_to_preset_generated_motion": cosine(latent_shifts.mean(0), offset),
            "runs_toward_preset": int(sum(cosine(shift, offset) > 0 for shift in shifts)),
            "projection_on_preset": float(shifts.mean(0) @ offset / (np.linalg.norm(offset) + 1e-9)),
        }
    return {
        "runs": len(runs),
        "emotion_guidance": GenerationOptions().guidance.emotion,
        "gaze_theta_deg": gaze_effect(gaze["retargeted"]),
        "gaze_theta_deg_motion_only": gaze_effect(gaze["motion_only"]),
        "distance": {
            "0.8": {"face_scale": float(np.mean(scale[0.8])), "latent_log_scale": float(np.mean(latent_scale[0.8]))},
            "1.25": {"face_scale": float(np.mean(scale[1.25])), "latent_log_scale": float(np.mean(latent_scale[1.25]))},
            "farther_is_smaller": bool(np.mean(scale[1.25]) < np.mean(scale[0.8])),
            "runs_farther_smaller": int(farther.sum()),
        },
        "emotion": emotions,
    }


def gaze_effect(readings: dict[float, list[float]]) -> dict:
    difference = np.array(readings[15.0]) - np.array(readings[-15.0])
    return {
        "output_size": DELIVERY_SIZE,
        "minus_15": float(np.mean(readings[-15.0])),
        "plus_15": float(np.mean(readings[15.0])),
        "difference": float(difference.mean()),
        "runs_apart": int((difference > 0).sum()),
    }


def resized(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, S, S, 3) uint8 frames area-resampled to (T, size, size, 3)."""
    if frames.shape[1] == size:
        return frames
    return to_uint8(F.interpolate(to_tensor(frames, "cpu"), size=(size, size), mode="area"))


def render_and_reencode(pipeline: TalkingFacePipeline, portrait: PreparedPortrait, motion: np.ndarray) -> np.ndarray:
    """(N, D) motion latents rendered on the portrait (no watermark: it does not move the face) and read
    back by the motion encoder: (N, D)."""
    with torch.inference_mode():
        pose, dynamics = pipeline.face_model.split_motion(torch.from_numpy(motion).float().to(pipeline.device))
        images = pipeline.face_model.decode(portrait.latents.expand(len(motion)), pose, dynamics)
    return reencoded_motion(pipeline, to_uint8(images))


def renderer_round_trip(pipeline: TalkingFacePipeline, portraits: list[PreparedPortrait]) -> dict:
    """How much of a change in the motion latents the face renderer shows, as read back by the motion
    encoder: the ceiling on any control or motion statistic measured on frames. Pose: the portrait's
    own latents with head yaw, pitch, roll and log-scale moved by 1 and 3 corpus standard deviations
    (the motion model's training statistics) and the angles also by 10 degrees. Emotion: the z_dyn
    offset of each preset exactly (the minimum-norm one in the emotion space's axes) added to the
    portrait's dynamics.
    gain = read-back change / applied change (1 = faithful)."""
    space = pipeline.emotion_space
    std = pipeline.motion_model.motion_std.cpu().numpy()
    pose_gain: dict[str, dict[str, float]] = {}
    for axis, name in ((0, "yaw"), (1, "pitch"), (2, "roll"), (5, "log-scale")):
        offsets = {"1 std": std[axis], "3 std": 3 * std[axis]}
        if axis < 3:
            offsets["10 deg"] = np.radians(10.0)
        gains: dict[str, list[float]] = {label: [] for label in offsets}
        for portrait in portraits:
            own = portrait.latents.motion[0].cpu().numpy()
            moved = np.repeat(own[None], 1 + 2 * len(offsets), 0)
            for index, offset in enumerate(offsets.values()):
                moved[1 + 2 * index, axis] += offset
                moved[2 + 2 * index, axis] -= offset
            read = render_and_reencode(pipeline, portrait, moved)[:, axis]
            for index, (label, offset) in enumerate(offsets.items()):
                gains[label].append(float((read[1 + 2 * index] - read[2 + 2 * index]) / (2 * offset)))
        pose_gain[name] = {
            "corpus_std": float(np.degrees(std[axis]) if axis < 3 else std[axis]),
            **{label: float(np.mean(values)) for label, values in gains.items()},
        }
    to_dynamics = np.linalg.pinv(space.axes.T)  # emotion-space offset -> minimum-norm z_dyn offset
    emotion: dict[str, dict[str, float]] = {}
    for name in (n for n in EMOTION_PRESETS[1:] if n in space.presets):
        preset = space.presets[name]
        shifts = []
        for portrait in portraits:
            own = portrait.latents.motion[0].cpu().numpy()
            moved = np.stack([own, own])
            moved[1, 6:] += preset @ to_dynamics
            read = render_and_reencode(pipeline, portrait, moved)
            shifts.append(space.project(read[1, 6:]) - space.project(read[0, 6:]))
        mean_shift = np.mean(shifts, axis=0)
        emotion[name] = {
            "gain_along_preset": float(mean_shift @ preset / (preset @ preset)),
            "cosine_to_preset": cosine(mean_shift, preset),
            "preset_norm": float(np.linalg.norm(preset)),
        }
    return {
        "portraits": len(portraits),
        "pose_gain": pose_gain,
        "emotion": emotion,
        "eye_gaze": eye_gaze_round_trip(pipeline, portraits),
    }


def eye_gaze_round_trip(pipeline: TalkingFacePipeline, portraits: list[PreparedPortrait], shift: float = 0.3) -> dict:
    """Whether the face latent carries where the eyes look: each portrait's irises moved by +-`shift`
    eye-box half-widths (x; y by half as much), encoded as the driving frame, rendered on the portrait,
    and read by the gaze network in the same eye boxes. gain = read-back change on the rendering /
    the change read on the redirected input (1 = faithful)."""
    network = GazeEstimator.from_pretrained(device=pipeline.device).network
    finder = EyeFinder()
    gains: dict[str, list[float]] = {"x": [], "y": []}
    for portrait in portraits:
        crop = to_tensor(portrait.crop[None], pipeline.device)
        layout = EyeLayout.detect(crop, finder)
        if not bool(layout.found.all()):
            continue
        for axis, name in ((0, "x"), (1, "y")):
            amount = shift if axis == 0 else shift / 2
            moved = torch.zeros(2, 2, device=pipeline.device)
            moved[0, axis], moved[1, axis] = amount, -amount
            pair = EyeLayout(layout.boxes.expand(2, -1, -1), layout.irises.expand(2, -1, -1), layout.found.expand(2))
            with torch.inference_mode():
                driving = redirect_gaze(crop.expand(2, -1, -1, -1), pair, moved)
                rendered = pipeline.face_model.decode(
                    portrait.latents.expand(2), *pipeline.face_model.encode_motion(driving)
                )
                applied = read_iris_offsets(network, driving, pair)[:, axis]
                shown = read_iris_offsets(network, rendered, pair)[:, axis]
            gains[name].append(float((shown[0] - shown[1]) / (applied[0] - applied[1])))
    return {"portraits_with_eyes": len(gains["x"]), **{f"gain_{k}": float(np.mean(v)) for k, v in gains.items() if v}}


def long_audio(pipeline: TalkingFacePipeline, portrait: PreparedPortrait, audio: AudioTrack, steps: int) -> dict:
    video = pipeline.generate(portrait, audio, options=GenerationOptions(steps=steps, seed=5))
    window = pipeline.motion_model.config.window
    scales = face_scales(video.frames[::5], FaceDetector())
    identity = identity_similarity(pipeline, portrait, video.frames[::5])
    per_window_scale, per_window_identity = [], []
    step = window // 5
    for start in range(0, len(scales), step):
        per_window_scale.append(float(np.nanmean(scales[start : start + step])))
        per_window_identity.append(float(np.mean(identity[start : start + step])))
    half = len(per_window_scale) // 2
    return {
        "seconds": len(video.frames) / video.fps,
        "generation_seconds": video.timings["total_seconds"],
        "window_face_scale": per_window_scale,
        "window_identity_cosine": per_window_identity,
        "face_scale_first_half": float(np.nanmean(per_window_scale[:half])),
        "face_scale_second_half": float(np.nanmean(per_window_scale[half:])),
        "identity_first_half": float(np.mean(per_window_identity[:half])),
        "identity_second_half": float(np.mean(per_window_identity[half:])),
        "latent_log_scale_first_second_half": [
            float(video.motion[: len(video.motion) // 2, 5].mean()),
            float(video.motion[len(video.motion) // 2 :, 5].mean()),
        ],
    }


def generalisation(
    pipeline: TalkingFacePipeline, steps: int, limit_audio: int, real_portraits: int, limit: int | None = None
) -> list[dict]:
    import csv

    rows = list(csv.DictReader((SHARED_DATA / "MANIFEST.tsv").open(), delimiter="\t"))
    artistic = [r["file"] for r in rows if r["kind"] == "portrait_artistic"]
    real = [r["file"] for r in rows if r["kind"] == "portrait_real"][:real_portraits]
    portraits = [p for pair in zip(artistic, real, strict=False) for p in pair]
    portraits += artistic[len(real) :] + real[len(artistic) :]
    by_language: dict[str, str] = {}
    for r in rows:
        language = r["language"].strip()
        if r["kind"] == "audio" and language.isalpha() and language not in by_language:
            by_language[language] = r["file"]
    languages = sorted(by_language)[:limit_audio]
    results = []
    for index, portrait_file in enumerate(portraits[:limit]):
        language = languages[index % len(languages)]
        audio = load_audio(SHARED_DATA / by_language[language])
        audio = AudioTrack(audio.samples[: 3 * 16_000], 16_000)
        record = {"portrait": portrait_file, "audio": by_language[language], "language": language}
        try:
            video = pipeline.generate(load_image(SHARED_DATA / portrait_file), audio, options=GenerationOptions(steps))
            record.update(ok=True, frames=len(video.frames))
        except Exception as err:  # noqa: BLE001 - the benchmark records every failure
            record.update(ok=False, error=f"{type(err).__name__}: {err}")
        results.append(record)
    return results


# -- report -----------------------------------------------------------------------------------
def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    speed = results.get("speed", {})
    if speed:
        names = list(speed)
        x = np.arange(len(names))
        axes[0].bar(x - 0.2, [speed[n]["batch_fps"] for n in names], 0.4, label="batch")
        axes[0].bar(x + 0.2, [speed[n]["stream_fps"] for n in names], 0.4, label="stream")
        axes[0].axhline(25, color="k", ls="--", lw=1, label="real time (25 fps)")
        axes[0].set_xticks(x, names, fontsize=7)
        axes[0].set_yscale("log")
        axes[0].set_ylabel("frames / s")
        axes[0].set_title(f"speed ({results['device']})"[:60], fontsize=8)
        axes[0].legend()
    if "long_audio" in results:
        long = results["long_audio"]
        t = np.arange(len(long["window_face_scale"])) * 2
        axes[1].plot(t, long["window_face_scale"], marker="o", label="face scale")
        axes[1].set_xlabel("seconds")
        axes[1].set_ylabel("face box / crop")
        twin = axes[1].twinx()
        twin.plot(t, long["window_identity_cosine"], color="C1", marker="s", label="identity cosine")
        twin.set_ylabel("identity cosine to portrait")
        axes[1].set_title("60 s generation: drift per window")
    if "motion_statistics" in results:
        stats = results["motion_statistics"]
        mean, pooled = stats["mean"], stats["pooled"]
        labels = ["delta-P (deg)", "mouth activity-energy r"]
        axes[2].bar(
            np.arange(2) - 0.2, [pooled["real_delta_pose_deg"], mean["real_mouth_activity_energy_r"]], 0.4,
            label="real",
        )  # fmt: skip
        axes[2].bar(
            np.arange(2) + 0.2, [pooled["generated_delta_pose_deg"], mean["generated_mouth_activity_energy_r"]], 0.4,
            label="generated",
        )  # fmt: skip
        axes[2].set_xticks(np.arange(2), labels)
        axes[2].legend()
        axes[2].set_title("held-out identities")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def speed_lines(speed: dict) -> list[str]:
    lines = ["## Speed", "", "| preset | weights | px | steps | batch fps | batch first window (s) | stream fps |"
             " stream start latency, compute (s) | stream start latency, live 40 ms chunks (s) |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in speed.items():
        lines.append(
            f"| {name} | {s['weights']} | {s['resolution']} | {s['sampler_steps']} | {s['batch_fps']:.1f} | "
            f"{s['batch_first_window_seconds']:.3f} | {s['stream_fps']:.1f} | "
            f"{s['stream_start_latency_compute_seconds']:.3f} | {s['stream_start_latency_live_seconds']:.3f} |"
        )
    needed = next(iter(speed.values()))["stream_audio_needed_seconds"]
    return lines + ["", f"Live latency includes waiting for the first streaming window's audio ({needed:.2f} s).", ""]


def markdown(results: dict) -> str:
    lines = ["# Talking-face generator benchmark", "", f"Device: {results['device']}", ""]
    if results.get("speed"):
        lines += speed_lines(results["speed"])
    for key in ("motion_statistics", "motion_statistics_audio_guidance_1"):
        if key not in results:
            continue
        m = results[key]
        clips = len({r["clip"] for r in m["clips"]})
        lines += [f"## Motion statistics (held-out identities, {clips} clips x seeds {m.get('seeds', [0])}, audio "
                  f"guidance {m['audio_guidance']})", "",
                  "| measure | real | generated |", "|---|---|---|"]  # fmt: skip
        lines.append(
            f"| delta-P (deg/frame), all frame pairs | {m['pooled']['real_delta_pose_deg']:.3f} | "
            f"{m['pooled']['generated_delta_pose_deg']:.3f} |"
        )
        lines.append(
            f"| delta-P (deg/frame), mean of clip means | {m['mean']['real_delta_pose_deg']:.3f} | "
            f"{m['mean']['generated_delta_pose_deg']:.3f} |"
        )
        lines.append(
            f"| mouth openness vs audio energy (r) | {m['mean']['real_mouth_energy_r']:.3f} | "
            f"{m['mean']['generated_mouth_energy_r']:.3f} |"
        )
        lines.append(
            f"| mouth activity vs audio energy (r) | {m['mean']['real_mouth_activity_energy_r']:.3f} | "
            f"{m['mean']['generated_mouth_activity_energy_r']:.3f} |"
        )
        lines += ["", f"delta-P ratio {m['delta_pose_ratio']:.2f} over all frame pairs (within 25 %: "
                  f"{m['delta_pose_within_25_percent']}; {m['delta_pose_ratio_clip_mean']:.2f} as a mean of clip "
                  f"means); "
                  f"mouth openness correlation at least real: {m['mouth_correlation_at_least_real']}; "
                  f"mouth activity correlation at least real: {m['mouth_activity_correlation_at_least_real']}",
                  ""]  # fmt: skip
    if "controls" in results:
        c = results["controls"]
        runs = c["runs"]
        lines += [f"## Controls (measured on outputs; means over {runs} runs = portraits x seeds, emotion guidance "
                  f"{c['emotion_guidance']})", ""]  # fmt: skip
        for key, label in (("gaze_theta_deg", "eyes retargeted, as delivered"),
                           ("gaze_theta_deg_motion_only", "motion model alone, retargeting off")):  # fmt: skip
            if key not in c:
                continue
            g = c[key]
            size = f" at {g['output_size']} px" if "output_size" in g else ""
            lines.append(f"- gaze ({label}{size}): estimated theta {g['minus_15']:.2f} deg at -15, "
                         f"{g['plus_15']:.2f} deg at +15 (difference {g['difference']:+.2f}; apart in the right "
                         f"order in {g['runs_apart']}/{runs} runs)")  # fmt: skip
        d = c["distance"]
        lines.append(f"- distance: face scale {d['0.8']['face_scale']:.3f} at 0.8, {d['1.25']['face_scale']:.3f} at "
                     f"1.25 (farther is smaller: {d['farther_is_smaller']}; in {d['runs_farther_smaller']}/{runs} "
                     "runs)")  # fmt: skip
        for name, e in c["emotion"].items():
            lines.append(
                f"- emotion {name}: cosine of the mean output shift to the preset {e['cosine_to_preset']:.2f} on "
                f"frames ({e['runs_toward_preset']}/{runs} runs toward it), "
                f"{e['cosine_to_preset_generated_motion']:.2f} in the generated motion"
            )
        lines.append("")
    if "renderer_round_trip" in results:
        r = results["renderer_round_trip"]
        lines += [f"## Renderer round trip (latent change -> rendered -> read back; {r['portraits']} portraits)", "",
                  "What the face renderer shows of a change in the motion latents (gain 1 = all of it): the "
                  "ceiling on every control measured on frames.", "",
                  "| latent change | corpus std (deg; log-scale: units) | gain at 1 std | at 3 std | at 10 deg |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for name, g in r["pose_gain"].items():
            ten = f"{g['10 deg']:.2f}" if "10 deg" in g else "-"
            lines.append(f"| head {name} | {g['corpus_std']:.3f} | {g['1 std']:.2f} | {g['3 std']:.2f} | {ten} |")
        lines.append("")
        for name, e in r["emotion"].items():
            lines.append(f"- emotion {name} (preset norm {e['preset_norm']:.2f}): gain along the preset "
                         f"{e['gain_along_preset']:.2f}, cosine {e['cosine_to_preset']:.2f}")  # fmt: skip
        if "eye_gaze" in r:
            eyes = r["eye_gaze"]
            gains = ", ".join(f"{axis} {eyes[f'gain_{axis}']:.2f}" for axis in "xy" if f"gain_{axis}" in eyes)
            lines.append(f"- eye gaze (the driving frame's irises moved, read by the gaze network on the "
                         f"rendering; {eyes['portraits_with_eyes']} portraits with both eyes found): "
                         f"gain {gains or 'n/a'}")  # fmt: skip
        lines.append("")
    if "long_audio" in results:
        long = results["long_audio"]
        lines += ["## Long audio", "",
                  f"{long['seconds']:.1f} s generated in {long['generation_seconds']:.1f} s. Face scale first/second "
                  f"half {long['face_scale_first_half']:.3f} / {long['face_scale_second_half']:.3f}; identity cosine "
                  f"{long['identity_first_half']:.3f} / {long['identity_second_half']:.3f}.", ""]  # fmt: skip
    if "generalisation" in results:
        ok = sum(r["ok"] for r in results["generalisation"])
        lines += ["## Artistic / real portraits x languages", "",
                  f"{ok}/{len(results['generalisation'])} generated without error.", ""]  # fmt: skip
        for r in results["generalisation"]:
            if not r["ok"]:
                lines.append(f"- {r['portrait']} + {r['language']}: {r['error']}")
    # Partial reruns merged into the results say so here (kept in the JSON as well).
    notes = ([results["speed_note"]] if "speed_note" in results else []) + results.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines) + "\n"


def merged(previous: dict, fresh: dict, parts: list[str], presets: list[str]) -> dict:
    """`fresh` measurements over the `previous` record: speed per preset, every other part whole. A note
    says what was re-measured, when, with which code and on which device, and where the rest is from: the
    full run (`full_run`, kept through any number of partial reruns)."""
    full_run = previous.get("full_run") or {key: previous.get(key) for key in ("date", "git_commit", "device")}
    results = {key: value for key, value in previous.items() if key not in ("benchmark", "date", "git_commit")}
    fresh = dict(fresh)
    speed = {**previous.get("speed", {}), **fresh.pop("speed", {})}
    results.update(fresh)
    results["speed"] = speed
    note = (
        f"{', '.join(parts)} ({', '.join(presets)}) re-measured at {datetime.now(UTC).isoformat(timespec='seconds')}"
        f" with the code of commit {str(git_commit())[:7]} on {fresh['device']}; the rest is from the full run of "
        f"{full_run['date']} (commit {str(full_run['git_commit'])[:7]}, {full_run['device']})."
    )
    results["notes"] = previous.get("notes", []) + [note]
    results["full_run"] = full_run
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", nargs="+", default=["tiny"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--clips", type=int, default=12, help="held-out clips for motion statistics")
    parser.add_argument("--quick", action="store_true", help="speed only (= --parts speed)")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default: everything)"
    )
    parser.add_argument("--name", default="talking_face")
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: the committed ones)")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--portraits", type=int, default=None, help="limit the portrait x language runs")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the earlier results of the parts and presets not measured now (the notes say what was)",
    )
    args = parser.parse_args()
    previous = read_results(args.name) if args.merge else None
    if args.merge and previous is None:
        raise SystemExit(f"--merge: no earlier results named {args.name!r} to merge into")
    parts = {"speed"} if args.quick else set(args.parts)
    device = torch.device(args.device)
    speech = synthesize_speech(SPEECH_TEXT)
    portrait = sample_portrait()
    results: dict = {"device": device_description(args.device), "speed": {}}
    trained = None
    for preset in args.presets:
        try:
            pipeline = TalkingFacePipeline.from_pretrained(args.weights, preset=preset, device=device)
            weights = "trained"
            trained = trained or pipeline
        except Exception:  # noqa: BLE001 - no trained weights for this preset yet
            pipeline = untrained_pipeline(preset, device)
            weights = "untrained (architecture timing)"
        if "speed" not in parts:
            continue
        audio = speech if preset == "tiny" or device.type == "cuda" else AudioTrack(speech.samples[:32_000], 16_000)
        results["speed"][preset] = {"weights": weights, **measure_speed(pipeline, portrait, audio, args.steps)}
        print(preset, results["speed"][preset], flush=True)
        if preset == "tiny":  # also at the size `candor generate` delivers (upsampled, watermarked there)
            name = f"tiny @ {DELIVERY_SIZE} px"
            results["speed"][name] = {
                "weights": weights,
                **measure_speed(pipeline, portrait, audio, args.steps, output_size=DELIVERY_SIZE),
            }
            print(name, results["speed"][name], flush=True)
            # A gaze control adds eye retargeting (Haar every fourth frame and a warp) to every frame.
            name = f"tiny @ {DELIVERY_SIZE} px, gaze control"
            results["speed"][name] = {
                "weights": weights,
                **measure_speed(
                    pipeline, portrait, audio, args.steps, DELIVERY_SIZE, Controls(gaze_degrees=(15.0, 0.0))
                ),
            }
            print(name, results["speed"][name], flush=True)
    if parts - {"speed"} and trained is not None:
        from media.weights import read_card

        card = read_card((args.weights or Path("weights")) / "motion" / "tiny.safetensors")
        prepared = trained.prepare_portrait(portrait)
        if "motion" in parts and PREPARED.is_dir():
            clips = held_out_clips(card, args.clips)
            results["motion_statistics"] = motion_statistics(trained, clips, args.steps, seeds=(0, 1, 2))
            results["motion_statistics_audio_guidance_1"] = motion_statistics(trained, clips, args.steps, 1.0)
            print("motion", results["motion_statistics"]["mean"], flush=True)
        # 6 s of the speech per run keeps the 8 runs x 8 generations to minutes on a CPU.
        control_speech = AudioTrack(speech.samples[: 6 * speech.sample_rate], speech.sample_rate)
        portraits = control_portraits(trained, prepared)
        if "controls" in parts:
            results["controls"] = control_effects(trained, portraits, control_speech, args.steps)
            print("controls", results["controls"], flush=True)
        if "round-trip" in parts:
            results["renderer_round_trip"] = renderer_round_trip(trained, portraits)
            print("renderer round trip", results["renderer_round_trip"], flush=True)
        if "long" in parts and (SHARED_DATA / "MANIFEST.tsv").is_file():
            long_parts, total = [], 0
            for name in ("anitalker__audios_english_female.wav", "dreamtalk__french1.wav", "dreamtalk__german1.wav",
                         "dreamtalk__japan1.wav", "dreamtalk__italian1.wav", "dreamtalk__korean1.wav"):  # fmt: skip
                part = load_audio(SHARED_DATA / "audio" / name).samples
                long_parts.append(part)
                total += len(part)
            samples = np.concatenate(long_parts)
            length = int(args.long_seconds * 16_000)
            while len(samples) < length:
                samples = np.concatenate([samples, samples])
            results["long_audio"] = long_audio(trained, prepared, AudioTrack(samples[:length], 16_000), args.steps)
            print("long", {k: v for k, v in results["long_audio"].items() if not k.startswith("window")}, flush=True)
        if "portraits" in parts and (SHARED_DATA / "MANIFEST.tsv").is_file():
            results["generalisation"] = generalisation(
                trained, args.steps, limit_audio=12, real_portraits=20, limit=args.portraits
            )
    if previous is not None:
        results = merged(previous, results, sorted(parts), args.presets)
    json_path, md_path = write_results(args.name, results, markdown(results))
    plot(results, md_path.with_suffix(".png"))
    print(md_path.read_text())


if __name__ == "__main__":
    main()
