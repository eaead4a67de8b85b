"""Training of the watermark embedder and extractor through the attack layer.

Each step: random payloads -> embed -> a random chain of attacks (real H.264/JPEG with
straight-through gradients, resize, crop, rotation, blur, colour, noise) -> extract -> BCE to the
payload. Unmarked frames go through the same attacks and the extractor is pushed to output 0 on them,
which keeps bits unbiased and false positives rare. Quality is held by construction: the residual is
tanh-bounded and scaled by the JND mask and `strength` (calibrated for PSNR after training).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from media.frames import to_tensor
from media.weights import save_weights
from watermark.augmentation.attacks import sample_training_attack
from watermark.config import WatermarkModelConfig
from watermark.models.watermarker import Watermarker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatermarkTrainConfig:
    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 1e-3
    # Attack-free steps first, so embedder and extractor agree on a code before it must survive.
    clean_steps: int = 300
    null_weight: float = 0.2
    val_fraction: float = 0.05
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 200
    target_psnr: float = 44.0
    # Curriculum: a cold-start extractor cannot find a faint residual, so training starts with a
    # residual `initial_strength` times stronger and anneals it geometrically to 1x by `anneal_until`.
    initial_strength: float = 6.0
    anneal_until: float = 0.6


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp(min=1e-12)
    return -10 * torch.log10(mse)


class WatermarkTrainer:
    def __init__(
        self,
        config: WatermarkTrainConfig,
        model_config: WatermarkModelConfig,
        frames: np.ndarray,
        run_dir: Path,
        *,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        self.config = config
        self.model_config = model_config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.on_step = on_step
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        n_val = max(1, int(len(frames) * config.val_fraction))
        order = self.rng.permutation(len(frames))
        self.val_frames, self.train_frames = frames[order[:n_val]], frames[order[n_val:]]
        self.model = Watermarker(model_config)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
        self.step = 0
        self.elapsed_before = 0.0
        self.started = time.time()
        self._resume()

    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def _resume(self) -> None:
        if self.state_path.is_file():
            state = torch.load(self.state_path, weights_only=True)
            self.model.load_state_dict(state["model"], strict=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.elapsed_before = state["step"], state["elapsed_seconds"]
            self.rng = np.random.default_rng((self.config.seed, self.step))

    def _save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed_seconds": self.elapsed_seconds,
        }
        torch.save(state, self.state_path.with_suffix(".tmp"))
        self.state_path.with_suffix(".tmp").replace(self.state_path)

    @property
    def elapsed_seconds(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def _batch(self) -> torch.Tensor:
        index = self.rng.integers(0, len(self.train_frames), self.config.batch_size)
        frames = to_tensor(self.train_frames[index])
        flip = torch.from_numpy(self.rng.random(len(index)) < 0.5)
        return torch.where(flip[:, None, None, None], frames.flip(-1), frames)

    def _attack(self, frames: torch.Tensor, chain) -> torch.Tensor:
        for spec in chain:
            frames = spec.apply(frames)
        return frames

    def _learning_rate(self) -> float:
        progress = self.step / max(self.config.steps, 1)
        warmup = min(1.0, (self.step + 1) / 20)
        return self.config.learning_rate * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def _strength(self) -> float:
        progress = min(1.0, self.step / max(self.config.anneal_until * self.config.steps, 1))
        return self.model_config.strength * self.config.initial_strength ** (1 - progress)

    def train_step(self) -> dict[str, float]:
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        frames = self._batch()
        bits = torch.from_numpy(self.rng.integers(0, 2, (len(frames), self.model_config.n_bits))).float()
        marked = self.model.embed(frames, bits, strength=self._strength())
        chain = sample_training_attack(self.rng) if self.step >= self.config.clean_steps else []
        # Marked and unmarked frames take the same attack chain in one pass (same codec, same crop).
        attacked = self._attack(torch.cat([marked, frames]), chain)
        learned, tiles = self.model.statistics(attacked)
        marked_logits = self.model.decide(learned[: len(frames)], tiles[: len(frames)])
        bit_loss = F.binary_cross_entropy_with_logits(marked_logits, bits)
        # Only the learned branch is pushed to 0 on unmarked frames: the matched branch reports the
        # best alignment, whose magnitude on noise is selection-biased and carries no sign.
        null_loss = (learned[len(frames) :] ** 2).mean()
        loss = bit_loss + self.config.null_weight * null_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        with torch.no_grad():
            accuracy = ((marked_logits > 0).float() == bits).float().mean()
        return {
            "loss": float(loss.detach()),
            "bit_loss": float(bit_loss.detach()),
            "null_loss": float(null_loss.detach()),
            "bit_accuracy": float(accuracy),
            "psnr": float(psnr(marked.detach(), frames).mean()),
            "attacks": "+".join(spec.name for spec in chain) or "none",
            "strength": self._strength(),
            "lr": self._learning_rate(),
        }

    def train(self) -> None:
        with (self.run_dir / "log.jsonl").open("a") as log_file:
            while self.step < self.config.steps:
                metrics = self.train_step()
                self.step += 1
                if self.step % self.config.log_every == 0 or self.step == 1:
                    log_file.write(
                        json.dumps({"step": self.step, "seconds": round(self.elapsed_seconds, 1), **metrics}) + "\n"
                    )
                    log_file.flush()
                if self.on_step:
                    self.on_step(self.step, metrics)
                if self.step % self.config.checkpoint_every == 0:
                    self._save()
        self._save()

    @torch.no_grad()
    def calibrate_strength(self) -> float:
        """The strength that gives `target_psnr` on held-out frames (PSNR is linear in log strength)."""
        frames = to_tensor(self.val_frames)
        bits = torch.from_numpy(self.rng.integers(0, 2, (len(frames), self.model_config.n_bits))).float()
        reference = self.model_config.strength
        measured = float(psnr(self.model.embed(frames, bits, strength=reference), frames).mean())
        return reference * 10 ** ((measured - self.config.target_psnr) / 20)

    @torch.no_grad()
    def calibrate_offset(self) -> torch.Tensor:
        """Per-bit mean logit on unmarked held-out frames; subtracted at extraction so bits are unbiased."""
        self.model.logit_offset.zero_()
        frames = to_tensor(self.val_frames)
        return torch.cat([self.model.extract(frames[i : i + 32]) for i in range(0, len(frames), 32)]).mean(0)

    def export(self, path: Path, data_description: dict) -> dict:
        self.model.logit_offset.copy_(self.calibrate_offset())
        strength = self.calibrate_strength()
        model_config = dataclasses.replace(self.model_config, strength=round(strength, 6))
        self.model.config = model_config
        card = {
            "model": "candor-watermark",
            "config": dataclasses.asdict(model_config),
            "training": dataclasses.asdict(self.config),
            "data": data_description,
            "steps": self.step,
            "training_seconds": round(self.elapsed_seconds, 1),
        }
        return save_weights(self.model, path, card)
