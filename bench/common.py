"""Helpers shared by the benchmarks: device description and writing JSON + Markdown results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(os.environ.get("CANDOR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def device_description(device: str = "cpu") -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_results(name: str, results: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """bench/results/<name>.json (with device, commit, time) and <name>.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": git_commit()}
    record.update(results)
    json_path = RESULTS_DIR / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    md_path = RESULTS_DIR / f"{name}.md"
    md_path.write_text(markdown)
    return json_path, md_path


def read_results(name: str) -> dict[str, Any] | None:
    """The record write_results last wrote as bench/results/<name>.json, or None when there is none."""
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
