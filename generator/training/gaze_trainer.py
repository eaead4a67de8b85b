"""Self-supervised training of the gaze network on eye patches of a prepared corpus.

No gaze labels exist in the corpus, so the network learns from synthetic gaze shifts
(generator.gaze.warp): two shifts of the same eye must give predictions that differ by the iris
displacement between them; a mirrored eye must look the other way; the corpus mean is the centre.
Evaluated on eyes of held-out identities: how well predicted differences follow known shifts, next to
the dark-pixel centroid (the classical estimate) on the same shifts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.gaze.eyes import EyeFinder, dark_centre
from generator.gaze.losses import centring_loss, equivariance_loss, mirror_loss
from generator.gaze.model import EyeGazeNet, GazeNetConfig
from generator.gaze.warp import random_shifts, shift_iris
from generator.training.run import device_description, git_commit, save_state, warmup_cosine
from media.corpus import PreparedCorpus
from media.weights import save_weights, torch_device


@dataclass(frozen=True)
class GazeTrainConfig:
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 2e-3
    # Synthetic shifts, uniform in +-max_shift (x, y) half-widths: an eye's range of motion in its box.
    max_shift: tuple[float, float] = (0.3, 0.15)
    frame_stride: int = 3
    noise: float = 0.15
    mirror_weight: float = 0.5
    centring_weight: float = 0.1
    val_fraction: float = 0.15
    seed: int = 0
    checkpoint_every: int = 500
    network: GazeNetConfig = GazeNetConfig()


def eye_patches(corpus: PreparedCorpus, stride: int, on_clip: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, P, P) normalised eye patches from every `stride`-th frame of every clip."""
    finder, patches = EyeFinder(), []
    for index, clip in enumerate(corpus.clips):
        for frame in clip.load_frames()[::stride]:
            pair = finder.patches(frame)
            if pair is not None:
                patches.extend(pair)
        if on_clip:
            on_clip(index + 1, len(corpus.clips))
    return np.stack(patches) if patches else np.zeros((0, 32, 32), np.float32)


class GazeTrainer:
    def __init__(
        self,
        config: GazeTrainConfig,
        data_dir: Path,
        run_dir: Path,
        *,
        device: str | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        on_extract: Callable[[int, int], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = torch_device(device)
        self.on_step = on_step
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        corpus = PreparedCorpus.load(data_dir)
        self.data_dir = Path(data_dir)
        train, val = corpus.split(config.val_fraction, config.seed)
        self.val_identities = list(val.identities)
        self.train_patches = self._patches(train, "train", on_extract)
        self.val_patches = self._patches(val, "val", on_extract)
        if len(self.train_patches) < config.batch_size:
            raise ValueError(f"{data_dir}: only {len(self.train_patches)} eye patches found; too few to train")
        self.train_centres = np.stack([dark_centre(p) for p in self.train_patches])
        self.model = EyeGazeNet(config.network).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
        self.step = 0
        self.started = time.perf_counter()
        self.elapsed_before = 0.0
        state_path = self.run_dir / "state.pt"
        if state_path.is_file():
            state = torch.load(state_path, map_location=self.device, weights_only=False)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.generator.set_state(state["generator"])
            self.step, self.elapsed_before = state["step"], state["elapsed"]

    def _patches(self, corpus: PreparedCorpus, name: str, on_extract) -> np.ndarray:
        cache = self.run_dir / f"eyes-{name}-stride{self.config.frame_stride}.npy"
        if cache.is_file():
            return np.load(cache)
        patches = eye_patches(corpus, self.config.frame_stride, on_extract)
        np.save(cache, patches)
        return patches

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(self.train_patches), (self.config.batch_size,), generator=self.generator)
        patches = torch.from_numpy(self.train_patches[index.numpy()])[:, None]
        return patches.to(self.device), torch.from_numpy(self.train_centres[index.numpy()]).to(self.device)

    def _noisy(self, patches: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(patches.shape, generator=self.generator).to(self.device) * self.config.noise
        return patches + noise

    def losses(self, patches: torch.Tensor, centres: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        first_shift = random_shifts(len(patches), config.max_shift, self.generator).to(self.device)
        second_shift = random_shifts(len(patches), config.max_shift, self.generator).to(self.device)
        first, moved_first = shift_iris(patches, centres, first_shift)
        second, moved_second = shift_iris(patches, centres, second_shift)
        predicted = self.model(self._noisy(torch.cat([first, second, patches, patches.flip(-1)])))
        on_first, on_second, plain, mirrored = predicted.split(len(patches))
        terms = {
            "equivariance": equivariance_loss(on_first, on_second, moved_first - moved_second),
            "mirror": mirror_loss(plain, mirrored),
            "centring": centring_loss(plain),
        }
        terms["total"] = (
            terms["equivariance"] + config.mirror_weight * terms["mirror"] + config.centring_weight * terms["centring"]
        )
        return terms

    def train(self) -> None:
        config = self.config
        self.model.train()
        while self.step < config.steps:
            for group in self.optimizer.param_groups:
                group["lr"] = warmup_cosine(self.step, config.steps, 100, config.learning_rate, 0.05)
            terms = self.losses(*self._batch())
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            self.optimizer.step()
            self.step += 1
            if self.on_step:
                self.on_step(self.step, {k: float(v.detach()) for k, v in terms.items()})
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self._checkpoint()
        self.model.eval()

    def _checkpoint(self) -> None:
        save_state(
            self.run_dir / "state.pt",
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "step": self.step,
                "elapsed": self.elapsed_before + time.perf_counter() - self.started,
            },
        )

    @torch.inference_mode()
    def evaluate(self, pairs: int = 2000, seed: int = 123) -> dict[str, float]:
        """On held-out identities' eyes: error of the predicted change for known synthetic shifts, its
        slope and correlation, and the same for the dark-pixel centroid."""
        generator = torch.Generator().manual_seed(seed)
        patches_np = self.val_patches if len(self.val_patches) else self.train_patches
        index = torch.randint(len(patches_np), (pairs,), generator=generator).numpy()
        patches = torch.from_numpy(patches_np[index])[:, None].to(self.device)
        centres = torch.from_numpy(np.stack([dark_centre(p) for p in patches_np[index]])).to(self.device)
        shift = random_shifts(pairs, self.config.max_shift, generator).to(self.device)
        shifted, moved = shift_iris(patches, centres, shift)
        self.model.eval()
        predicted = (self.model(shifted) - self.model(patches)).cpu().numpy()
        classical = np.stack([dark_centre(p) for p in shifted[:, 0].cpu().numpy()]) - centres.cpu().numpy()
        truth = moved.cpu().numpy()
        metrics = {"val_patches": int(len(self.val_patches)), "train_patches": int(len(self.train_patches))}
        for name, estimate in (("network", predicted), ("dark_centroid", classical)):
            for axis, label in enumerate("xy"):
                slope = float(np.polyfit(truth[:, axis], estimate[:, axis], 1)[0])
                metrics[f"{name}_{label}_error"] = float(np.abs(estimate[:, axis] - truth[:, axis]).mean())
                metrics[f"{name}_{label}_slope"] = slope
                metrics[f"{name}_{label}_r"] = float(np.corrcoef(truth[:, axis], estimate[:, axis])[0, 1])
        return metrics

    def export(self, path: Path) -> dict:
        metrics = self.evaluate()
        card = {
            "model": "candor-eye-gaze",
            "config": dataclasses.asdict(self.config.network),
            "training": {**dataclasses.asdict(self.config), "network": None},
            "data": {"prepared_dir": str(self.data_dir), "val_identities": self.val_identities},
            "labels": "none: self-supervised on synthetic iris shifts (generator/gaze/warp.py)",
            "output": "iris offset from the eye-box centre, (x right, y down), in eye-box half-widths",
            "steps": self.step,
            "training_seconds": round(self.elapsed_before + time.perf_counter() - self.started, 1),
            "device": device_description(self.device),
            "git_commit": git_commit(),
            "metrics": metrics,
        }
        return save_weights(self.model, path, card)
