"""Training of the motion diffusion transformer on motion latents of a prepared corpus (VASA-1 §3.2).

Usage:   candor train motion --data data/prepared-128 [--face-weights weights/face/tiny.safetensors]
Multi-GPU:  torchrun --nproc-per-node 8 $(which candor) train motion --preset full --data ...

The motion latents are extracted once with the given face weights (cached in the run folder, keyed by
the weights' hash). The run folder holds the resolved config with the git commit, a JSONL log, and a
resumable `state.pt`; export writes safetensors + a card that carries the emotion space and presets.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from generator.audio import AudioFeatureConfig
from generator.data.context_noise import noisy_context
from generator.data.gaze_turns import GazeTurnAugmentation, add_gaze_turns
from generator.data.motion_windows import MotionWindowSampler
from generator.face.pretrained import load_face_model
from generator.gaze.estimator import DEFAULT_WEIGHTS as GAZE_WEIGHTS
from generator.motion import losses
from generator.motion.config import DiffusionConfig, MotionModelConfig, motion_preset
from generator.motion.controls import EmotionSpace
from generator.motion.diffusion import NoiseSchedule
from generator.motion.latents import MotionClip, extract_motion_clips, load_motion_clips, save_motion_clips
from generator.motion.model import CONDITIONS, MotionConditions, MotionDiffusionTransformer
from generator.training.distributed import DistributedContext, init_distributed, shutdown_distributed
from generator.training.run import (
    device_description,
    git_commit,
    lineage_card,
    run_lineage,
    save_state,
    warmup_cosine,
)
from media.corpus import PreparedCorpus
from media.weights import load_weights, read_card, save_weights, unwrap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConditionDropout:
    """Probability that each condition is absent in a training sample (classifier-free guidance)."""

    audio: float = 0.1
    previous: float = 0.5
    gaze: float = 0.1
    distance: float = 0.1
    emotion: float = 0.1


@dataclass(frozen=True)
class MotionLossWeights:
    clean: float = 1.0
    velocity: float = 2.0
    continuity: float = 0.5


@dataclass(frozen=True)
class MotionTrainConfig:
    preset: str = "tiny"
    steps: int = 8000
    batch_size: int = 64
    learning_rate: float = 3e-4
    warmup_steps: int = 300
    # Windows of random length (min_window..model window) so that streaming can use short windows.
    min_window: int = 12
    val_fraction: float = 0.15
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    val_batches: int = 8
    dropout: ConditionDropout = field(default_factory=ConditionDropout)
    # Off by default: the tiny face model's renderer barely shows head yaw / pitch (round-trip gain 0.03),
    # so the turns would not reach the frames (see "What the tiny renderer can show" in the README).
    gaze_turns: GazeTurnAugmentation = field(default_factory=GazeTurnAugmentation)
    # Largest noise std (normalised motion units) on the previous window's motion (generator.data.context_noise).
    context_noise: float = 0.0
    weights: MotionLossWeights = field(default_factory=MotionLossWeights)
    audio: AudioFeatureConfig = field(default_factory=AudioFeatureConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


def clip_mean_dynamics(clips: list[MotionClip], pose_dim: int = 6) -> np.ndarray:
    return np.stack([clip.motion[:, pose_dim:].mean(0) for clip in clips])


def fit_emotion_space(clips: list[MotionClip], dim: int) -> tuple[EmotionSpace, dict[str, np.ndarray]]:
    """The emotion space fitted on `clips`, with presets from their labelled ones, and every clip's position."""
    space = EmotionSpace.fit(clip_mean_dynamics(clips), dim)
    positions = {clip.clip_id: space.project(clip.motion[:, 6:].mean(0)) for clip in clips}
    labels = {clip.clip_id: (clip.identity, clip.emotion) for clip in clips if clip.emotion}
    return space.with_presets(positions, labels), positions


class MotionTrainer:
    def __init__(
        self,
        config: MotionTrainConfig,
        data_dir: Path,
        run_dir: Path,
        *,
        face_weights: Path | None = None,
        model_config: MotionModelConfig | None = None,
        device: str | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        on_extract: Callable[[int, int], None] | None = None,
        init_weights: Path | None = None,
    ) -> None:
        """init_weights: start a new run from these motion weights (fine-tuning, e.g. after the labels
        changed) instead of from scratch; the label statistics are re-measured on this run's clips."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.on_step = on_step
        self.context: DistributedContext = init_distributed(device)
        self.device = self.context.device
        torch.manual_seed(config.seed + self.context.rank)
        self.rng = np.random.default_rng(config.seed + 1000 * self.context.rank)
        self.data_dir = Path(data_dir)
        corpus = PreparedCorpus.load(data_dir)
        train_corpus, val_corpus = corpus.split(config.val_fraction, config.seed)
        self.face_model, self.face_card = load_face_model(face_weights, device=self.device)
        self.face_weights_sha256 = self.face_card["sha256"]
        # The gaze labels come from the committed gaze network: new weights mean new labels.
        self.gaze_weights_sha256 = read_card(GAZE_WEIGHTS)["sha256"]
        clips = self._motion_clips(corpus, on_extract)
        train_ids, val_ids = set(train_corpus.identities), set(val_corpus.identities)
        self.train_clips = [c for c in clips if c.identity in train_ids]
        self.val_clips = [c for c in clips if c.identity in val_ids]
        # The preset's sizes (or an explicit config), fitted to the face model's motion and the audio features.
        self.model_config = dataclasses.replace(
            model_config or motion_preset(config.preset),
            motion_dim=clips[0].motion.shape[1],
            audio_dim=config.audio.feature_dim,
        )
        self.emotion_space, train_positions = fit_emotion_space(self.train_clips, self.model_config.emotion_dim)
        val_positions = {c.clip_id: self.emotion_space.project(c.motion[:, 6:].mean(0)) for c in self.val_clips}
        self.model = MotionDiffusionTransformer(self.model_config).to(self.device)
        self.initialised_from = None
        if init_weights is not None:
            self.initialised_from = load_weights(self.model, init_weights)["sha256"]
        unwrap(self.model).set_statistics(
            torch.from_numpy(np.concatenate([c.motion for c in self.train_clips])).to(self.device),
            torch.from_numpy(np.concatenate([c.gaze for c in self.train_clips])).to(self.device),
            torch.from_numpy(np.concatenate([c.distance for c in self.train_clips])[:, None]).to(self.device),
        )
        if self.context.world_size > 1:
            self.model = DistributedDataParallel(self.model)
        k = self.model_config.context
        self.train_sampler = MotionWindowSampler(self.train_clips, train_positions, config.audio, context=k)
        self.val_sampler = MotionWindowSampler(self.val_clips, val_positions, config.audio, context=k, gain_jitter=0.0)
        self.schedule = NoiseSchedule(config.diffusion)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.01)
        self.step = 0
        self.started = time.time()
        self.elapsed_before = 0.0
        self.last_val: dict[str, float] = {}
        self._resume()
        # Yaw / pitch corpus stds for gaze turns: fixed statistics, read to the host once, not every step.
        self.pose_std = unwrap(self.model).motion_std[:2].cpu().numpy()

    # -- data ---------------------------------------------------------------------------------
    def _motion_clips(self, corpus: PreparedCorpus, on_extract) -> list[MotionClip]:
        cache = self.run_dir / f"latents-{self.face_weights_sha256[:12]}-{self.gaze_weights_sha256[:12]}.npz"
        if cache.is_file():
            return load_motion_clips(cache)
        clips = extract_motion_clips(corpus, self.face_model, self.config.audio, on_clip=on_extract)
        if self.context.is_main:
            save_motion_clips(clips, cache)
        return clips

    # -- state --------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def _resume(self) -> None:
        if not self.state_path.is_file():
            self.lineage = run_lineage(None, dataclasses.asdict(self.config), 0, self.initialised_from)
            return
        state = torch.load(self.state_path, map_location=self.device, weights_only=True)
        self.lineage = run_lineage(
            state.get("lineage"), dataclasses.asdict(self.config), state["step"], self.initialised_from
        )
        unwrap(self.model).load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.elapsed_before = state.get("elapsed_seconds", 0.0)
        self.rng = np.random.default_rng([self.config.seed, self.context.rank, self.step])
        log.info("resumed %s at step %d", self.run_dir, self.step)

    def _save_state(self) -> None:
        if not self.context.is_main:
            return
        state = {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed_seconds": self.elapsed_seconds,
            "lineage": self.lineage,
        }
        save_state(self.state_path, state)

    @property
    def elapsed_seconds(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def _write_run_config(self) -> None:
        if not self.context.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "train": dataclasses.asdict(self.config),
            "model": dataclasses.asdict(self.model_config),
            "data": str(self.data_dir),
            "face_weights_sha256": self.face_weights_sha256,
            "train_identities": sorted({c.identity for c in self.train_clips}),
            "val_identities": sorted({c.identity for c in self.val_clips}),
            "git_commit": git_commit(),
            "world_size": self.context.world_size,
            "device": str(self.device),
        }
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=1))

    # -- training -----------------------------------------------------------------------------
    def _learning_rate(self) -> float:
        config = self.config
        return warmup_cosine(self.step, config.steps, config.warmup_steps, config.learning_rate, floor=0.05)

    def _window(self) -> int:
        """Mostly full windows (batch generation), sometimes short ones (streaming)."""
        if self.rng.random() < 0.6:
            return self.model_config.window
        return int(self.rng.integers(self.config.min_window, self.model_config.window + 1))

    def _conditions(self, batch: dict[str, torch.Tensor], dropout: ConditionDropout | None) -> MotionConditions:
        model = unwrap(self.model)
        size = len(batch["motion"])
        keep = {}
        for name in CONDITIONS:
            present = torch.ones(size, dtype=torch.bool)
            if name == "audio":
                present = batch["has_audio"].clone()
            elif name == "previous":
                present = batch["has_previous"].clone()
            if dropout is not None:
                present &= torch.from_numpy(self.rng.random(size) >= getattr(dropout, name))
            keep[name] = present.to(self.device)
        return MotionConditions(
            audio=batch["audio"].to(self.device),
            previous=model.normalize_motion(batch["previous"].to(self.device)),
            gaze=batch["gaze"].to(self.device),
            distance=batch["distance"].to(self.device),
            emotion=batch["emotion"].to(self.device),
            keep=keep,
        )

    def _loss_terms(
        self, batch: dict[str, torch.Tensor], dropout: ConditionDropout | None, *, augment: bool = False
    ) -> dict[str, torch.Tensor]:
        model = unwrap(self.model)
        conditions = self._conditions(batch, dropout)
        motion = batch["motion"].to(self.device)
        if augment and self.config.gaze_turns.probability > 0:
            motion, gaze = add_gaze_turns(
                motion, conditions.gaze, conditions.keep["gaze"], self.config.gaze_turns, self.pose_std, self.rng
            )
            conditions = dataclasses.replace(conditions, gaze=gaze)
        clean = model.normalize_motion(motion)
        # The continuity target stays the true last frame; only the model's view of the context is noisy.
        true_previous = conditions.previous
        if augment and self.config.context_noise > 0:
            conditions = dataclasses.replace(
                conditions, previous=noisy_context(conditions.previous, self.config.context_noise, self.rng)
            )
        levels = torch.from_numpy(self.rng.integers(0, self.schedule.config.train_steps, len(clean))).to(self.device)
        noise = torch.from_numpy(self.rng.standard_normal(clean.shape).astype(np.float32)).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            predicted = self.model(self.schedule.add_noise(clean, noise, levels), levels, conditions).float()
        weights = self.config.weights
        terms = {
            "clean": (weights.clean, losses.clean_reconstruction(predicted, clean)),
            "velocity": (weights.velocity, losses.velocity(predicted, clean)),
            "continuity": (
                weights.continuity,
                losses.context_continuity(predicted, true_previous, conditions.keep["previous"]),
            ),
        }
        result = {name: value.detach() for name, (_, value) in terms.items()}
        result["total"] = sum(weight * value for weight, value in terms.values())
        return result

    def train_step(self) -> dict[str, float]:
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        self.model.train()
        batch = self.train_sampler.sample(self.config.batch_size, self._window(), self.rng)
        terms = self._loss_terms(batch, self.config.dropout, augment=True)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        metrics = {name: float(value.detach()) for name, value in terms.items()}
        metrics["lr"] = self._learning_rate()
        return metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss on held-out identities with all conditions present (fixed seed: comparable across steps)."""
        self.model.eval()
        saved_rng, self.rng = self.rng, np.random.default_rng(12345)
        totals: dict[str, float] = {}
        for _ in range(self.config.val_batches):
            batch = self.val_sampler.sample(self.config.batch_size, self.model_config.window, self.rng)
            for name, value in self._loss_terms(batch, None).items():
                totals[name] = totals.get(name, 0.0) + float(value) / self.config.val_batches
        self.rng = saved_rng
        return {f"val_{name}": value for name, value in totals.items()}

    def train(self) -> None:
        self._write_run_config()
        with (self.run_dir / "log.jsonl").open("a") as log_file:
            while self.step < self.config.steps:
                metrics = self.train_step()
                self.step += 1
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    self.last_val = self.validate()
                    metrics.update(self.last_val)
                    self._save_state()
                if self.context.is_main and (self.step % self.config.log_every == 0 or self.step == 1):
                    record = {"step": self.step, "seconds": round(self.elapsed_seconds, 1), **metrics}
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                if self.on_step and self.context.is_main:
                    self.on_step(self.step, metrics)
        self._save_state()

    # -- export -------------------------------------------------------------------------------
    def export(self, weights_path: Path) -> dict:
        model = unwrap(self.model).eval()
        card = {
            "model": "candor-motion-diffusion",
            "preset": self.config.preset,
            "config": dataclasses.asdict(self.model_config),
            "audio": dataclasses.asdict(self.config.audio),
            "diffusion": dataclasses.asdict(self.config.diffusion),
            "training": dataclasses.asdict(self.config),
            "face_weights_sha256": self.face_weights_sha256,
            "face_preset": self.face_card["preset"],
            "gaze_weights_sha256": self.gaze_weights_sha256,
            **lineage_card(self.lineage),
            "emotion_space": self.emotion_space.to_json(),
            "data": {
                "prepared_dir": str(self.data_dir),
                "train_clips": len(self.train_clips),
                "train_clips_with_audio": sum(c.audio is not None for c in self.train_clips),
                "train_frames": int(sum(c.n_frames for c in self.train_clips)),
                "val_identities": sorted({c.identity for c in self.val_clips}),
            },
            "steps": self.step,
            "training_seconds": round(self.elapsed_seconds, 1),
            "device": device_description(self.device),
            "world_size": self.context.world_size,
            "git_commit": git_commit(),
            "metrics": self.validate(),
        }
        return save_weights(model, weights_path, card)

    def close(self) -> None:
        shutdown_distributed()
