"""Self-reenactment training of the face latent space (VASA-1 §3.1).

Usage (single process, CPU or GPU):        candor train face --preset tiny --data data/prepared-128
Multi-GPU:  torchrun --nproc-per-node 8 $(which candor) train face --preset base --data data/prepared-256

The run folder holds the resolved config with the git commit, a JSONL loss log, and `state.pt`
(models, optimizers, step) written every `checkpoint_every` steps so a stopped run resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from generator.data import FramePairDataset
from generator.face import losses
from generator.face.augment import AugmentConfig, PairAugmenter
from generator.face.config import face_preset
from generator.face.discriminator import MultiScaleDiscriminator
from generator.face.evaluation import evaluate_face_model
from generator.face.model import FaceLatentModel
from generator.gaze.estimator import DEFAULT_WEIGHTS as GAZE_WEIGHTS
from generator.gaze.eyes import EyeFinder
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from generator.gaze.redirect import EyeLayout, read_iris_offsets, redirect_gaze
from generator.gaze.warp import random_shifts
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
class LossWeights:
    l1: float = 1.0
    ms_ssim: float = 1.0
    feature_matching: float = 1.0
    adversarial: float = 0.05
    transfer: float = 1.0
    cross_identity: float = 1.0
    cross_pose: float = 1.0
    cross_dynamics: float = 0.5
    cycle: float = 1.0
    identity_contrastive: float = 0.1


@dataclass(frozen=True)
class GazeSupervision:
    """Teaching the face latent where the eyes look (off while weight is 0).

    The corpus's eye rotation is narrow (within-clip std ~5 deg) and at 128 px an iris is a few pixels,
    so reconstruction alone leaves gaze out of z_dyn (a linear read-out predicted the gaze label with
    r = 0.03). With this on, each driving frame's irises are moved by a random shift of up to
    `max_shift` (x, y) eye-box half-widths (generator.gaze.redirect) - the target moves with them - and
    the frozen gaze network must read the same iris offset on the rendering as on the driving frame.
    It runs as an extra reenactment of the first `batch` pairs without the geometric augmentation: the
    tiny renderer reproduces a rotated, shifted driver only to within a few pixels, enough to move the
    eye boxes off the rendered irises (measured: with geometric augmentation the renderer's eye-gaze
    gain stayed at 0.01 after 400 steps, 0.13 without).
    """

    weight: float = 0.0
    max_shift: tuple[float, float] = (0.3, 0.15)
    batch: int = 4


@dataclass(frozen=True)
class FaceTrainConfig:
    preset: str = "tiny"
    steps: int = 6000
    batch_size: int = 8
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    warmup_steps: int = 200
    # The GAN terms join after the reconstruction has taken shape; earlier they only add noise.
    adversarial_start: int = 1500
    # Transfer, cross-identity and cycle losses need extra encodes/decodes: every `aux_every` steps,
    # on the first `aux_batch` samples.
    aux_every: int = 2
    aux_batch: int = 4
    min_frame_gap: int = 2
    val_fraction: float = 0.15
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    eval_pairs: int = 256
    num_workers: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    gaze: GazeSupervision = field(default_factory=GazeSupervision)


class ReenactmentStep(nn.Module):
    """All generator-side computation of one training step, as a forward() so DDP can wrap it.

    Inputs: source, driving (B, 3, S, S) geometric-augmented frames of one clip; motion_input: the
    colour-jittered driving frame the motion encoder sees. Returns the renderings and codes the
    losses need.
    """

    def __init__(self, model: FaceLatentModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        motion_input: torch.Tensor,
        aux_batch: int,
        gaze_pair: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """gaze_pair: (source, motion input) of the gaze supervision's extra reenactment, if on."""
        model = self.model
        source_latents = model.encode(source)
        pose, dynamics = model.encode_motion(motion_input)
        out = {
            "reenacted": model.decode(source_latents, pose, dynamics),
            "source_identity": source_latents.identity,
            "driving_identity": model.identity_encoder(driving),
        }
        if gaze_pair is not None:
            gaze_source, gaze_motion_input = gaze_pair
            out["gaze_reenacted"] = model.decode(model.encode(gaze_source), *model.encode_motion(gaze_motion_input))
        if aux_batch > 0:
            out.update(self._auxiliary(source, driving, source_latents.select(slice(0, aux_batch)), pose, dynamics))
        return out

    def _auxiliary(self, source, driving, source_latents, pose, dynamics) -> dict[str, torch.Tensor]:
        model, k = self.model, len(source_latents.pose)
        pose, dynamics = pose[:k], dynamics[:k]
        driving_latents = model.encode(driving[:k])
        # Pairwise transfer: (frame i with pose j) vs (frame j with dynamics i).
        i_with_pose_j = model.decode(source_latents, driving_latents.pose, source_latents.dynamics)
        j_with_dyn_i = model.decode(driving_latents, driving_latents.pose, source_latents.dynamics)
        # Cross-identity: sample b's face with the motion of sample b+1 (another clip).
        shift = torch.roll(torch.arange(k, device=pose.device), 1)
        crossed = model.decode(source_latents, pose[shift], dynamics[shift])
        crossed_latents = model.encode(crossed)
        # Cycle: the crossed rendering driven back with the source's own motion.
        cycled = model.decode(crossed_latents, source_latents.pose, source_latents.dynamics)
        return {
            "i_with_pose_j": i_with_pose_j,
            "j_with_dyn_i": j_with_dyn_i,
            "crossed_identity": crossed_latents.identity,
            "crossed_pose": crossed_latents.pose,
            "crossed_dynamics": crossed_latents.dynamics,
            "cross_target_pose": pose[shift],
            "cross_target_dynamics": dynamics[shift],
            "aux_source_identity": source_latents.identity,
            "cycled": cycled,
            "cycle_target": source[:k],
        }


def generator_losses(
    out: dict[str, torch.Tensor],
    target: torch.Tensor,
    identity_labels: torch.Tensor,
    fake_scores,
    real_scores,
    weights: LossWeights,
) -> dict[str, torch.Tensor]:
    """Weighted loss terms (unweighted values are logged; `total` is what is optimised)."""
    terms: dict[str, tuple[float, torch.Tensor]] = {
        "l1": (weights.l1, losses.l1(out["reenacted"], target)),
        "ms_ssim": (weights.ms_ssim, losses.ms_ssim_loss(out["reenacted"], target)),
        "identity_contrastive": (
            weights.identity_contrastive,
            losses.identity_contrastive(
                torch.cat([out["source_identity"], out["driving_identity"]]), identity_labels.repeat(2)
            ),
        ),
    }
    if fake_scores is not None:
        terms["adversarial"] = (weights.adversarial, losses.generator_adversarial(fake_scores))
        terms["feature_matching"] = (weights.feature_matching, losses.feature_matching(fake_scores, real_scores))
    if "cycled" in out:
        cross = losses.cross_identity_consistency(
            out["crossed_identity"],
            out["aux_source_identity"],
            out["crossed_pose"],
            out["cross_target_pose"],
            out["crossed_dynamics"],
            out["cross_target_dynamics"],
        )
        terms["transfer"] = (weights.transfer, losses.pairwise_transfer(out["i_with_pose_j"], out["j_with_dyn_i"]))
        terms["cross_identity"] = (weights.cross_identity, cross["identity"])
        terms["cross_pose"] = (weights.cross_pose, cross["pose"])
        terms["cross_dynamics"] = (weights.cross_dynamics, cross["dynamics"])
        terms["cycle"] = (weights.cycle, losses.cycle_consistency(out["cycled"], out["cycle_target"]))
    result = {name: value.detach() for name, (_, value) in terms.items()}
    result["total"] = sum(weight * value for weight, value in terms.values())
    return result


class FaceTrainer:
    """Owns models, optimizers, data and the run folder. `train()` runs (or resumes) to config.steps."""

    def __init__(
        self,
        config: FaceTrainConfig,
        data_dir: Path,
        run_dir: Path,
        *,
        device: str | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        init_weights: Path | None = None,
    ) -> None:
        """init_weights: start a new run from these face weights (fine-tuning, e.g. to add the gaze
        supervision) instead of from scratch; the discriminator starts afresh (it is not committed)."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.on_step = on_step
        self.context: DistributedContext = init_distributed(device)
        self.device = self.context.device
        torch.manual_seed(config.seed + self.context.rank)
        corpus = PreparedCorpus.load(data_dir)
        self.data_dir = Path(data_dir)
        self.train_corpus, self.val_corpus = corpus.split(config.val_fraction, config.seed)
        self.model_config = face_preset(config.preset)
        if self.train_corpus.clips[0].size != self.model_config.image_size:
            raise ValueError(
                f"{data_dir} holds {self.train_corpus.clips[0].size}px crops; preset {config.preset!r} needs "
                f"{self.model_config.image_size}px (run `candor data prepare --size {self.model_config.image_size}`)"
            )
        self.model = FaceLatentModel(self.model_config).to(self.device)
        self.initialised_from = None
        if init_weights is not None:
            self.initialised_from = load_weights(self.model, init_weights)["sha256"]
        self.gaze_network: EyeGazeNet | None = None
        if config.gaze.weight > 0:
            self.gaze_network = EyeGazeNet(GazeNetConfig(**read_card(GAZE_WEIGHTS)["config"]))
            load_weights(self.gaze_network, GAZE_WEIGHTS)
            self.gaze_network.eval().requires_grad_(False).to(self.device)
            self.eye_finder = EyeFinder()
            self.gaze_generator = torch.Generator().manual_seed(config.seed + self.context.rank)
        self.discriminator = MultiScaleDiscriminator().to(self.device)
        self.step_module: nn.Module = ReenactmentStep(self.model)
        if self.context.world_size > 1:
            self.step_module = DistributedDataParallel(self.step_module, find_unused_parameters=True)
            self.discriminator = DistributedDataParallel(self.discriminator)
        self.augmenter = PairAugmenter(config.augment).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
        self.disc_optimizer = torch.optim.AdamW(
            self.discriminator.parameters(), lr=config.discriminator_learning_rate, betas=(0.5, 0.999)
        )
        self.step = 0
        self.started = time.time()
        self.elapsed_before = 0.0
        self._resume()

    # -- data ---------------------------------------------------------------------------------
    def _loader(self, epoch: int) -> DataLoader:
        dataset = FramePairDataset(self.train_corpus, seed=self.config.seed, min_gap=self.config.min_frame_gap)
        dataset.set_epoch(epoch)
        if self.context.world_size > 1:
            sampler = DistributedSampler(dataset, seed=self.config.seed)
            sampler.set_epoch(epoch)
        else:
            generator = torch.Generator().manual_seed(self.config.seed + epoch)
            sampler = RandomSampler(dataset, generator=generator)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.num_workers,
            drop_last=True,
            persistent_workers=False,
        )

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
        unwrap(self.discriminator).load_state_dict(state["discriminator"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.disc_optimizer.load_state_dict(state["disc_optimizer"])
        self.step = state["step"]
        self.elapsed_before = state.get("elapsed_seconds", 0.0)
        log.info("resumed %s at step %d", self.run_dir, self.step)

    def _save_state(self) -> None:
        if not self.context.is_main:
            return
        state = {
            "model": unwrap(self.model).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "disc_optimizer": self.disc_optimizer.state_dict(),
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
            "train_identities": list(self.train_corpus.identities),
            "val_identities": list(self.val_corpus.identities),
            "git_commit": git_commit(),
            "world_size": self.context.world_size,
            "device": str(self.device),
        }
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=1))

    # -- training -----------------------------------------------------------------------------
    def _learning_rate(self) -> float:
        config = self.config
        return warmup_cosine(self.step, config.steps, config.warmup_steps, config.learning_rate, floor=0.1)

    def train(self) -> None:
        self._write_run_config()
        epoch = self.step // max(len(self._loader(0)), 1)
        with (self.run_dir / "log.jsonl").open("a") as log_file:
            while self.step < self.config.steps:
                for batch in self._loader(epoch):
                    if self.step >= self.config.steps:
                        break
                    metrics = self.train_step(batch)
                    self.step += 1
                    if self.context.is_main and (self.step % self.config.log_every == 0 or self.step == 1):
                        record = {"step": self.step, "seconds": round(self.elapsed_seconds, 1), **metrics}
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                    if self.on_step and self.context.is_main:
                        self.on_step(self.step, metrics)
                    if self.step % self.config.checkpoint_every == 0:
                        self._save_state()
                epoch += 1
        self._save_state()

    def _autocast(self):
        enabled = self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        config = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        source = batch["source"].to(self.device, non_blocking=True)
        driving = batch["driving"].to(self.device, non_blocking=True)
        labels = batch["identity"].to(self.device)
        with torch.no_grad():
            gaze_pair = gaze_target = layout = None
            if self.gaze_network is not None:
                count = min(config.gaze.batch, len(source))
                gaze_source, gaze_target = self.augmenter.flip_pairs(source[:count], driving[:count])
                layout = EyeLayout.detect(gaze_target, self.eye_finder)
                shifts = random_shifts(count, config.gaze.max_shift, self.gaze_generator).to(self.device)
                gaze_target = redirect_gaze(gaze_target, layout, shifts)
                gaze_pair = (gaze_source, self.augmenter.appearance(gaze_target))
            source, driving = self.augmenter.geometry(source), self.augmenter.geometry(driving)
            source, driving = self.augmenter.flip_pairs(source, driving)
            motion_input = self.augmenter.appearance(driving)
        aux_batch = min(config.aux_batch, len(source)) if self.step % config.aux_every == 0 else 0
        use_gan = self.step >= config.adversarial_start

        self.step_module.train()
        with self._autocast():
            out = self.step_module(source, driving, motion_input, aux_batch, gaze_pair)
            fake_scores = self.discriminator(out["reenacted"]) if use_gan else None
            real_scores = self.discriminator(driving) if use_gan else None
            terms = generator_losses(out, driving, labels, fake_scores, real_scores, config.weights)
            if gaze_pair is not None:
                rendered = out["gaze_reenacted"]
                gaze = losses.gaze_consistency(
                    read_iris_offsets(self.gaze_network, rendered, layout),
                    read_iris_offsets(self.gaze_network, gaze_target, layout),
                    layout.found,
                )
                gaze_l1 = losses.l1(rendered, gaze_target)
                terms["gaze"], terms["gaze_l1"] = gaze.detach(), gaze_l1.detach()
                terms["total"] = terms["total"] + config.gaze.weight * gaze + config.weights.l1 * gaze_l1
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()

        metrics = {name: float(value.detach()) for name, value in terms.items()}
        if use_gan:
            with self._autocast():
                disc_loss = losses.discriminator_hinge(
                    self.discriminator(driving), self.discriminator(out["reenacted"].detach())
                )
            self.disc_optimizer.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_optimizer.step()
            metrics["discriminator"] = float(disc_loss.detach())
        metrics["psnr"] = float(losses.psnr(out["reenacted"].detach(), driving).mean())
        metrics["lr"] = self._learning_rate()
        return metrics

    # -- export -------------------------------------------------------------------------------
    def export(self, weights_path: Path) -> dict:
        """Evaluate on validation identities and write safetensors + card (main process only)."""
        model = unwrap(self.model).eval()
        metrics = evaluate_face_model(model, self.val_corpus, n_pairs=self.config.eval_pairs, device=self.device)
        card = {
            "model": "candor-face-latent",
            "preset": self.config.preset,
            "config": dataclasses.asdict(self.model_config),
            "training": dataclasses.asdict(self.config),
            "data": {
                "prepared_dir": str(self.data_dir),
                "train_clips": len(self.train_corpus.clips),
                "train_frames": self.train_corpus.n_frames,
                "train_identities": len(self.train_corpus.identities),
                "val_identities": list(self.val_corpus.identities),
            },
            "steps": self.step,
            "training_seconds": round(self.elapsed_seconds, 1),
            "device": device_description(self.device),
            "world_size": self.context.world_size,
            "git_commit": git_commit(),
            **lineage_card(self.lineage),
            "metrics": metrics,
        }
        return save_weights(model, weights_path, card)

    def close(self) -> None:
        shutdown_distributed()
