"""What every training run shares: learning-rate schedule, atomic checkpoints, and run provenance."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


def warmup_cosine(step: int, total: int, warmup: int, base: float, floor: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `base` to `floor` x `base` at `total`."""
    ramp = min(1.0, (step + 1) / max(warmup, 1))
    progress = step / max(total, 1)
    return base * ramp * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def save_state(path: Path, state: dict[str, Any]) -> None:
    """torch.save through a temporary file, so an interrupted write never replaces a good checkpoint."""
    partial = Path(path).with_suffix(".tmp")
    torch.save(state, partial)
    partial.replace(path)


def run_lineage(
    saved: dict[str, Any] | None, training: dict[str, Any], step: int, initialised_from: str | None
) -> dict[str, Any]:
    """Where a run's weights come from, kept in its checkpoint so that a resumed run still says so: the
    weights it started from (`initialised_from_sha256`) and each stretch of steps trained under one
    configuration (`segments`: from_step + training config; a resume with other settings starts a new
    one). `saved` is the checkpoint's lineage (None for a fresh run or a checkpoint from before lineage
    was kept, whose earlier stretches are then unknown)."""
    training = json.loads(json.dumps(training))  # as it reads back from the checkpoint and the card
    if saved is None:
        return {"initialised_from_sha256": initialised_from, "segments": [{"from_step": step, "training": training}]}
    segments = list(saved["segments"])
    if segments[-1]["training"] != training:
        segments.append({"from_step": step, "training": training})
    return {"initialised_from_sha256": saved["initialised_from_sha256"], "segments": segments}


def lineage_card(lineage: dict[str, Any]) -> dict[str, Any]:
    """The card's part of a lineage: the starting weights, and the segments when there was more than one
    (or the first did not start at step 0); the card's `training` is the last segment's config."""
    card: dict[str, Any] = {"initialised_from_sha256": lineage["initialised_from_sha256"]}
    segments = lineage["segments"]
    if len(segments) > 1 or segments[0]["from_step"] != 0:
        card["training_segments"] = segments
    return card


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
