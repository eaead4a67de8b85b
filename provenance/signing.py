"""Embedding a signed C2PA manifest into MP4, PNG and JPEG files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import c2pa

from media.atomic import partial_path, publish
from provenance.errors import SigningError

MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}

# Offline and private by default: no thumbnails (personal data), nothing fetched.
SIGNING_SETTINGS = {
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}


def mime_type_of(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise SigningError(f"{path}: cannot sign {suffix or 'extensionless'} files (MP4, PNG or JPEG only)")
    return MIME_TYPES[suffix]


def sign_asset(source: Path, destination: Path, manifest: dict[str, Any], signer: c2pa.Signer) -> bytes:
    """Write `destination` = `source` with `manifest` embedded and signed. Returns the manifest store bytes.

    Writes to a temporary file first, so a failure never leaves a half-signed file at `destination`
    (and `destination` may equal `source`).
    """
    source, destination = Path(source), Path(destination)
    mime_type = mime_type_of(source)
    if not source.is_file():
        raise SigningError(f"{source}: file not found")
    context = c2pa.Context(settings=c2pa.Settings.from_dict(SIGNING_SETTINGS))
    partial = partial_path(destination)
    try:
        builder = c2pa.Builder(json.dumps(manifest), context=context)
        with open(source, "rb") as input_stream, open(partial, "w+b") as output_stream:
            manifest_bytes = builder.sign(signer, mime_type, input_stream, output_stream)
        publish(partial, destination)
    except c2pa.C2paError as err:
        raise SigningError(f"{source}: C2PA signing failed ({err})") from err
    finally:
        partial.unlink(missing_ok=True)
    return manifest_bytes


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
