"""TalkingFacePipeline: portrait + speech -> watermarked talking-face frames (batch or streaming).

portrait -> face crop -> face latents (once) -> audio features -> motion windows (diffusion
transformer) -> face decoder -> watermark -> frames. The pipeline owns device and dtype; every
decoded frame is watermarked with the generation's ID before it is returned, and there is no option
to skip that.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generator.audio import AudioFeatureConfig, frame_count, log_mel_features, silence_features
from generator.face.config import face_preset
from generator.face.model import FaceLatentModel, FaceLatents
from generator.gaze.estimator import DEFAULT_WEIGHTS as DEFAULT_GAZE_WEIGHTS
from generator.gaze.retarget import EyeRetargeter, EyeTarget
from generator.motion.config import DiffusionConfig, GuidanceScales, MotionModelConfig
from generator.motion.controls import Controls, EmotionSpace
from generator.motion.diffusion import NoiseSchedule
from generator.motion.model import MotionDiffusionTransformer
from generator.motion.sampler import ControlValues, MotionSampler
from media.audio import AudioTrack
from media.errors import AudioError
from media.faces import FaceDetector, crop_face
from media.frames import to_tensor, to_uint8
from media.weights import WeightsError, load_weights, read_card, torch_device
from watermark.inference import VideoWatermarker
from watermark.payload import new_generation_id, parse_generation_id

WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"
MODEL_NAME = "candor-talking-face"
# Frames of audio before a streaming window that its mel analysis sees (as the whole clip would).
_STREAM_CONTEXT_FRAMES = 4


@dataclass(frozen=True)
class GenerationOptions:
    steps: int = 10
    seed: int = 0
    guidance: GuidanceScales = GuidanceScales()
    # Sampler stochasticity: 0 = deterministic DDIM, 1 = DDPM-like (livelier motion).
    eta: float = 0.5
    # Streaming windows are short so the first frame comes out early; batch windows are the model's.
    stream_window: int = 12
    # Side of the delivered frames; None = the face model's own (tiny: 128). Larger sizes are upsampled
    # (bicubic) before the watermark, which is then embedded at the delivered size, where it survives a
    # platform's re-encode far better than at 128 px (see the README's watermark section).
    output_size: int | None = None
    # A gaze control also moves the rendered irises (generator/gaze/retarget.py); False leaves gaze to
    # the motion model alone, which the tiny renderer barely shows (for comparison, or a renderer that
    # draws the eyes itself).
    retarget_eyes: bool = True


# What `candor generate` delivers by default.
DELIVERY_SIZE = 256


@dataclass
class GeneratedVideo:
    """Watermarked frames (T, S, S, 3) uint8 at `fps`, the generation ID they carry, and the motion."""

    frames: np.ndarray
    fps: float
    generation_id: str
    motion: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class PreparedPortrait:
    """A portrait encoded once: its face crop and latents (reused for every frame)."""

    crop: np.ndarray
    latents: FaceLatents


class TalkingFacePipeline:
    def __init__(
        self,
        face_model: FaceLatentModel,
        motion_model: MotionDiffusionTransformer,
        watermarker: VideoWatermarker,
        emotion_space: EmotionSpace,
        audio_config: AudioFeatureConfig,
        diffusion: DiffusionConfig,
        eye_retargeter: EyeRetargeter,
        *,
        identity: dict[str, str],
        device: torch.device,
    ) -> None:
        self.device = device
        self.face_model = face_model.eval().to(device)
        self.motion_model = motion_model.eval().to(device)
        self.watermarker = watermarker
        self.emotion_space = emotion_space
        self.eye_retargeter = eye_retargeter
        self.audio_config = audio_config
        self.schedule = NoiseSchedule(diffusion)
        self.detector = FaceDetector()
        self.identity = identity
        self.silence = silence_features(1, audio_config)[0]

    @property
    def fps(self) -> float:
        return self.audio_config.fps

    @property
    def image_size(self) -> int:
        return self.face_model.config.image_size

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, *, preset: str = "tiny", device: str | torch.device | None = None
    ) -> TalkingFacePipeline:
        """Load from a weights folder holding face/<preset>, motion/<preset>, watermark/default and
        optionally gaze/default (.safetensors + .json each; default: the repository's committed weights,
        and for gaze the committed gaze network). Local files only."""
        root = Path(path) if path is not None else WEIGHTS_ROOT
        device = torch_device(device) if not isinstance(device, torch.device) else device
        face_path, motion_path = root / "face" / f"{preset}.safetensors", root / "motion" / f"{preset}.safetensors"
        watermark_path = root / "watermark" / "default.safetensors"
        gaze_path = root / "gaze" / "default.safetensors"
        gaze_path = gaze_path if gaze_path.is_file() else DEFAULT_GAZE_WEIGHTS
        for required in (face_path, motion_path, watermark_path):
            if not required.is_file():
                raise WeightsError(f"{required}: weights not found (preset {preset!r})")
        face_card, motion_card = read_card(face_path), read_card(motion_path)
        if motion_card["face_weights_sha256"] != face_card["sha256"]:
            raise WeightsError(f"{motion_path} was trained on other face weights than {face_path}")
        face_model = FaceLatentModel(face_preset(face_card["preset"]))
        load_weights(face_model, face_path)
        motion_model = MotionDiffusionTransformer(MotionModelConfig(**motion_card["config"]))
        load_weights(motion_model, motion_path)
        identity = {
            "name": MODEL_NAME,
            "version": f"{preset}",
            "face_sha256": face_card["sha256"],
            "motion_sha256": motion_card["sha256"],
            "watermark_sha256": read_card(watermark_path)["sha256"],
            # The eye retargeting's gaze network shapes the frames too.
            "gaze_sha256": read_card(gaze_path)["sha256"],
        }
        return cls(
            face_model,
            motion_model,
            VideoWatermarker.from_pretrained(watermark_path, device=device),
            EmotionSpace.from_json(motion_card["emotion_space"]),
            AudioFeatureConfig(**motion_card["audio"]),
            DiffusionConfig(**motion_card["diffusion"]),
            EyeRetargeter.from_pretrained(gaze_path),
            identity=identity,
            device=device,
        )

    # -- inputs -------------------------------------------------------------------------------
    @torch.inference_mode()
    def prepare_portrait(self, image: np.ndarray) -> PreparedPortrait:
        """Detect the largest face (NoFaceFoundError if none), crop it as in training, encode it."""
        crop, _ = crop_face(image, size=self.image_size, detector=self.detector, source="portrait")
        return self.encode_crop(crop)

    @torch.inference_mode()
    def encode_crop(self, crop: np.ndarray) -> PreparedPortrait:
        """A face crop already framed like the training crops (e.g. a prepared clip's frame)."""
        if crop.shape != (self.image_size, self.image_size, 3):
            raise ValueError(f"a face crop must be {self.image_size}x{self.image_size} RGB, got {crop.shape}")
        tensor = to_tensor(crop[None], self.device)
        return PreparedPortrait(crop, self.face_model.encode(tensor))

    def _portrait(self, image: np.ndarray | PreparedPortrait) -> PreparedPortrait:
        return image if isinstance(image, PreparedPortrait) else self.prepare_portrait(image)

    def control_values(self, portrait: PreparedPortrait, controls: Controls) -> ControlValues:
        """User controls -> label units. Gaze is relative to the corpus's mean (looking at the camera);
        distance and emotion are relative to the portrait."""
        model = self.motion_model
        gaze = distance = emotion = None
        if controls.gaze_degrees is not None:
            gaze = model.gaze_mean.cpu().numpy() + np.radians(np.asarray(controls.gaze_degrees, np.float32))
        if controls.distance is not None:
            own = -float(portrait.latents.pose[0, 5])
            distance = np.array([own + math.log(controls.distance)], np.float32)
        if controls.emotion is not None:
            if controls.emotion not in self.emotion_space.presets:
                raise ValueError(f"emotion preset {controls.emotion!r} is not in these weights")
            own = self.emotion_space.project(portrait.latents.dynamics[0].cpu().numpy())
            emotion = own + self.emotion_space.presets[controls.emotion]
        return ControlValues(gaze, distance, emotion)

    def _sampler(self, portrait: PreparedPortrait, controls: Controls, options: GenerationOptions) -> MotionSampler:
        generator = torch.Generator().manual_seed(options.seed)
        return MotionSampler(
            self.motion_model,
            self.schedule,
            portrait.latents.motion[0],
            self.silence,
            self.control_values(portrait, controls),
            steps=options.steps,
            guidance=options.guidance,
            generator=generator,
            eta=options.eta,
        )

    # -- rendering ----------------------------------------------------------------------------
    def eye_target(
        self, portrait: PreparedPortrait, controls: Controls, options: GenerationOptions
    ) -> EyeTarget | None:
        """The eye retargeting of a generation, or None (no gaze control, or retargeting off)."""
        if controls.gaze_degrees is None or not options.retarget_eyes:
            return None
        return self.eye_retargeter.target(portrait.crop, controls.gaze_degrees)

    @torch.inference_mode()
    def render(
        self,
        portrait: PreparedPortrait,
        motion: torch.Tensor,
        generation_id: str,
        output_size: int | None = None,
        eye_target: EyeTarget | None = None,
    ) -> np.ndarray:
        """(T, D) motion -> (T, S, S, 3) uint8 frames of the portrait's face (S = output_size, default the
        face model's), eyes retargeted when `eye_target` is given, watermarked."""
        frames = []
        for start in range(0, len(motion), 25):
            chunk = motion[start : start + 25]
            pose, dynamics = self.face_model.split_motion(chunk)
            images = self.face_model.decode(portrait.latents.expand(len(chunk)), pose, dynamics).clamp(0, 1)
            # At the renderer's own size: the warp costs a quarter of what it would at 256 px, and the
            # upsampling after it smooths it like the rest of the face.
            if eye_target is not None:
                images = self.eye_retargeter.apply(images, eye_target)
            if output_size is not None and output_size != images.shape[-1]:
                images = F.interpolate(images, size=(output_size, output_size), mode="bicubic").clamp(0, 1)
            frames.append(to_uint8(images))
        return self.watermarker.embed(np.concatenate(frames), generation_id)

    # -- batch --------------------------------------------------------------------------------
    def generate(
        self,
        image: np.ndarray | PreparedPortrait,
        audio: AudioTrack,
        controls: Controls = Controls(),
        options: GenerationOptions = GenerationOptions(),
        *,
        generation_id: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> GeneratedVideo:
        """All frames for `audio` (16 kHz mono): ceil(duration x fps) frames, in sync with it."""
        _check_audio(audio)
        generation_id = parse_generation_id(generation_id) if generation_id else new_generation_id()
        started = time.perf_counter()
        portrait = self._portrait(image)
        n_frames = frame_count(len(audio.samples), self.audio_config)
        features = log_mel_features(audio.samples, self.audio_config, n_frames)
        sampler = self._sampler(portrait, controls, options)
        eye_target = self.eye_target(portrait, controls, options)
        window = self.motion_model.config.window
        motion, frames = [], []
        timings = {"motion_seconds": 0.0, "render_seconds": 0.0}
        for start in range(0, n_frames, window):
            tick = time.perf_counter()
            window_motion = sampler.next_window(features[start : start + window])
            timings["motion_seconds"] += time.perf_counter() - tick
            tick = time.perf_counter()
            frames.append(self.render(portrait, window_motion, generation_id, options.output_size, eye_target))
            timings["render_seconds"] += time.perf_counter() - tick
            motion.append(window_motion.cpu().numpy())
            if on_progress:
                on_progress(min(start + window, n_frames), n_frames)
        timings["total_seconds"] = time.perf_counter() - started
        return GeneratedVideo(np.concatenate(frames), self.fps, generation_id, np.concatenate(motion), timings)

    # -- streaming ----------------------------------------------------------------------------
    def stream(
        self,
        image: np.ndarray | PreparedPortrait,
        audio_chunks: Iterable[np.ndarray],
        controls: Controls = Controls(),
        options: GenerationOptions = GenerationOptions(),
        *,
        generation_id: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Frames as audio arrives: chunks of 16 kHz mono float32 samples in, watermarked frames out.

        A window of `options.stream_window` frames is generated as soon as its audio is in; the last
        partial window when the chunks end. The generation ID is available as `self.last_generation_id`.
        """
        generation_id = parse_generation_id(generation_id) if generation_id else new_generation_id()
        self.last_generation_id = generation_id
        portrait = self._portrait(image)
        sampler = self._sampler(portrait, controls, options)
        eye_target = self.eye_target(portrait, controls, options)
        window = min(options.stream_window, self.motion_model.config.window)
        per_frame = self.audio_config.samples_per_frame
        # Features of frame t need audio a little past its end (the mel window is centred).
        lookahead = self.audio_config.n_fft // 2
        # Only the current window's audio and a little before it is kept: the buffer stays short however
        # long the stream runs. `dropped` counts the whole frames of audio already discarded from its front.
        buffered, dropped, received, emitted = np.zeros(0, np.float32), 0, 0, 0

        def emit(size: int) -> Iterator[np.ndarray]:
            nonlocal buffered, dropped, emitted
            yield from self._stream_window(
                portrait, sampler, buffered, emitted - dropped, size, generation_id, options.output_size, eye_target
            )
            emitted += size
            keep_from = max(0, emitted - _STREAM_CONTEXT_FRAMES)
            buffered = buffered[(keep_from - dropped) * per_frame :]
            dropped = keep_from

        for chunk in audio_chunks:
            chunk = np.asarray(chunk, np.float32).reshape(-1)
            buffered = np.concatenate([buffered, chunk])
            received += len(chunk)
            while received >= (emitted + window) * per_frame + lookahead:
                yield from emit(window)
        total = frame_count(received, self.audio_config) if received else 0
        while emitted < total:
            yield from emit(min(window, total - emitted))

    def _stream_window(
        self, portrait, sampler, buffered, start, size, generation_id, output_size, eye_target
    ) -> Iterator[np.ndarray]:
        """Frames start..start+size of `buffered` (indices relative to the buffer's first sample)."""
        per_frame = self.audio_config.samples_per_frame
        # The window's own audio plus what precedes it, for a mel analysis that matches batch mode.
        first = max(0, start - _STREAM_CONTEXT_FRAMES) * per_frame
        samples = buffered[first : (start + size) * per_frame + self.audio_config.n_fft // 2]
        offset = start - first // per_frame
        features = log_mel_features(samples, self.audio_config, offset + size)[offset:]
        yield from self.render(portrait, sampler.next_window(features), generation_id, output_size, eye_target)


def _check_audio(audio: AudioTrack) -> None:
    if audio.sample_rate != 16_000:
        raise AudioError(f"the pipeline takes 16 kHz audio, got {audio.sample_rate} Hz (use media.audio.load_audio)")
    if len(audio.samples) == 0:
        raise AudioError("the audio is empty")
