"""What every training run shares: learning-rate schedule, atomic checkpoints, and run provenance."""

from __future__ import annotations

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
