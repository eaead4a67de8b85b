"""Self-describing weights: `<name>.safetensors` beside `<name>.json` (config, data, steps, metrics, hash).

Loading is strict and local-only: a missing or mismatched tensor is an error naming the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from media.atomic import atomic_destination


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or do not fit the model."""


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers (their prefixes must not reach checkpoints)."""
    while True:
        if hasattr(module, "module"):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def save_weights(module: nn.Module, path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write `path` (.safetensors) and its card (`path` with .json), each whole or not at all
    (media.atomic; the card last, and it names the weights' hash). Returns the card as written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in unwrap(module).state_dict().items()}
    with atomic_destination(path) as partial:
        save_file(state, str(partial))
        card = {
            **card,
            "weights_file": path.name,
            "sha256": file_sha256(partial),
            "parameters": int(sum(t.numel() for t in state.values())),
        }
    with atomic_destination(path.with_suffix(".json")) as partial:
        partial.write_text(json.dumps(card, indent=1, sort_keys=False) + "\n")
    return card


def read_card(path: Path) -> dict[str, Any]:
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file():
        raise WeightsError(f"{card_path}: weights card not found")
    return json.loads(card_path.read_text())


def load_weights(module: nn.Module, path: Path, *, verify_hash: bool = True) -> dict[str, Any]:
    """Load `path` into `module` strictly; returns the card. Never touches the network."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    card = read_card(path)
    if verify_hash and card.get("sha256") != file_sha256(path):
        raise WeightsError(f"{path}: sha256 does not match its card (corrupt or replaced file)")
    try:
        module.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise WeightsError(f"{path}: weights do not fit the model ({err})") from err
    return card


def torch_device(name: str | None) -> torch.device:
    """'cpu', 'cuda', 'cuda:1' or None (= cuda when available)."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WeightsError("--device cuda requested but no CUDA GPU is available")
    return device
