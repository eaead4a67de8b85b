"""Loading the committed face weights (local files only)."""

from __future__ import annotations

from pathlib import Path

import torch

from generator.face.config import face_preset
from generator.face.model import FaceLatentModel
from media.weights import load_weights, read_card

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights" / "face"


def default_face_weights(preset: str = "tiny") -> Path:
    return DEFAULT_WEIGHTS_DIR / f"{preset}.safetensors"


def load_face_model(path: Path | None = None, *, device: torch.device | str = "cpu") -> tuple[FaceLatentModel, dict]:
    """The model described by the card beside `path` (default: the committed tiny weights), in eval mode."""
    path = Path(path) if path is not None else default_face_weights()
    card = read_card(path)
    model = FaceLatentModel(face_preset(card["preset"]))
    load_weights(model, path)
    return model.eval().to(device), card
