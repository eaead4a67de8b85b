from __future__ import annotations

from pathlib import Path

import pytest

from media.video import remux
from provenance.keys import SignerConfig, init_development_keys, load_signer
from provenance.manifest import (
    ConsentReference,
    GenerationProvenance,
    InputMedia,
    ModelIdentity,
    WatermarkSpan,
    build_manifest,
)
from provenance.signing import sign_asset

WATERMARK_ID = "0123456789abcdef"


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return init_development_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def trust_anchors(keys) -> str:
    return keys.ca_cert.read_text()


@pytest.fixture(scope="session")
def manifest() -> dict:
    record = GenerationProvenance(
        title="talking.mp4",
        model=ModelIdentity("candor-generator", "tiny-test", "ab" * 32),
        watermark_id=WATERMARK_ID,
        watermark_spans=(WatermarkSpan(0.0, 2.0),),
        inputs=(InputMedia("portrait", "image/png", "cd" * 32), InputMedia("audio", "audio/wav", "ef" * 32)),
        consent=ConsentReference("consent-42", "12" * 32),
    )
    return build_manifest(record, "0.1.0-test")


@pytest.fixture(scope="session")
def signed_mp4(tmp_path_factory, keys, manifest, sample_clip) -> tuple[Path, bytes]:
    out = tmp_path_factory.mktemp("signed") / "talking.mp4"
    manifest_bytes = sign_asset(sample_clip, out, manifest, load_signer(SignerConfig.from_directory(keys.directory)))
    return out, manifest_bytes


def remux_without_metadata(source: Path, destination: Path) -> Path:
    """Copy the audio/video packets into a new MP4: what platforms do when they strip metadata."""
    return remux(source, destination)
