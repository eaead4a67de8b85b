"""Where the CLI keeps its state by default: $CANDOR_HOME (default ~/.candor)."""

from __future__ import annotations

import os
from pathlib import Path


def candor_home() -> Path:
    return Path(os.environ.get("CANDOR_HOME", Path.home() / ".candor"))


def default_keys_dir() -> Path:
    return candor_home() / "keys"


def default_manifest_store() -> Path:
    return candor_home() / "manifests.db"
