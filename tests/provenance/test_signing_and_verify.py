from __future__ import annotations

import datetime
import json
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from media.image import save_image
from provenance.errors import ProvenanceError, SigningError
from provenance.keys import CA_KEY, SignerConfig, issue_signer_certificate, load_signer
from provenance.signing import sha256_of, sign_asset
from provenance.store import ManifestStore
from provenance.verify import read_c2pa, verify_asset
from tests.provenance.conftest import WATERMARK_ID, remux_without_metadata

INTEROP = Path(__file__).resolve().parents[2] / "tools" / "c2pa-interop"


def test_signed_file_has_the_permissions_of_any_new_file(signed_mp4):
    umask = os.umask(0)
    os.umask(umask)
    path, _ = signed_mp4
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temporary file's 0600


def test_signed_mp4_is_trusted_with_the_ca_and_valid_without(signed_mp4, trust_anchors):
    path, _ = signed_mp4
    trusted = read_c2pa(path, trust_anchors)
    assert trusted.state == "Trusted", trusted.failures
    assert "signingCredential.trusted" in trusted.codes and "assertion.bmffHash.match" in trusted.codes
    untrusted = read_c2pa(path)
    assert untrusted.state == "Valid"


def test_manifest_says_ai_generated_by_which_model_under_which_consent(signed_mp4, trust_anchors):
    report = read_c2pa(signed_mp4[0], trust_anchors)
    assert report.ai_generated is True
    assert report.model == {"name": "candor-generator", "version": "tiny-test", "weights_sha256": "ab" * 32}
    assert report.consent == {"record_id": "consent-42", "record_sha256": "12" * 32}
    assert report.soft_binding_id == WATERMARK_ID
    assert report.signer == "Candor Development Signer"


def test_inputs_are_ingredients_by_hash_without_thumbnails(signed_mp4):
    with c2pa.Reader(str(signed_mp4[0])) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    ingredients = manifest["ingredients"]
    assert {i["relationship"] for i in ingredients} == {"inputTo"}
    assert {i["instance_id"] for i in ingredients} == {f"urn:candor:sha256:{h * 32}" for h in ("cd", "ef")}
    assert not any("thumbnail" in i for i in ingredients) and "thumbnail" not in manifest
    labels = {a["label"] for a in manifest["assertions"]}
    assert {"c2pa.actions.v2", "c2pa.soft-binding", "cawg.training-mining", "com.candor.consent"} <= labels


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_single_frames_can_be_signed(tmp_path, keys, manifest, trust_anchors, portrait, suffix):
    source = tmp_path / f"frame{suffix}"
    save_image(source, portrait[:128, :128])
    out = tmp_path / f"signed{suffix}"
    sign_asset(source, out, manifest, load_signer(SignerConfig.from_directory(keys.directory)))
    assert read_c2pa(out, trust_anchors).state == "Trusted"


def test_unsupported_format_is_a_clear_error(tmp_path, keys, manifest):
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(SigningError, match="MP4, PNG or JPEG"):
        sign_asset(
            tmp_path / "a.gif", tmp_path / "b.gif", manifest, load_signer(SignerConfig.from_directory(keys.directory))
        )


def _tampered(signed: Path, tmp_path: Path, how: str) -> Path:
    data = bytearray(signed.read_bytes())
    if how == "flipped media byte":
        data[data.find(b"mdat") + 200] ^= 0x01
    elif how == "appended top-level box":
        data += struct.pack(">I4s", 24, b"mdat") + b"appended payload"
    elif how == "edited assertion":
        start = data.find(b"notAllowed")
        data[start : start + 10] = b"allowed!!!"
    elif how == "truncated file":
        data = data[: len(data) * 2 // 3]
    out = tmp_path / f"{how.replace(' ', '_')}.mp4"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("how", "codes"),
    [
        ("flipped media byte", {"assertion.bmffHash.mismatch"}),
        ("appended top-level box", {"assertion.bmffHash.mismatch"}),
        ("edited assertion", {"assertion.hashedURI.mismatch"}),
        ("truncated file", {"assertion.bmffHash.mismatch", "candor.asset.unreadable"}),
    ],
)
def test_tampering_is_reported_invalid_with_the_right_code(signed_mp4, trust_anchors, tmp_path, how, codes):
    report = read_c2pa(_tampered(signed_mp4[0], tmp_path, how), trust_anchors)
    assert report.state == "Invalid"
    assert set(report.failures) & codes, report.failures


def test_stripped_manifest_is_absent(signed_mp4, trust_anchors, tmp_path):
    stripped = remux_without_metadata(signed_mp4[0], tmp_path / "stripped.mp4")
    assert read_c2pa(stripped, trust_anchors).state == "absent"


def test_expired_signer_certificate_is_invalid(keys, manifest, trust_anchors, tmp_path, sample_clip):
    """A file signed while the certificate was valid reads Invalid (signingCredential.expired) after it expires."""
    ca_cert = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key((keys.directory / CA_KEY).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    template = issue_signer_certificate(ca_cert, ca_key, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(template.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(seconds=2))
    )
    for extension in template.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    certificate = builder.sign(ca_key, hashes.SHA256())
    chain = certificate.public_bytes(serialization.Encoding.PEM) + keys.ca_cert.read_bytes()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key_pem, None))
    out = tmp_path / "expiring.mp4"
    sign_asset(sample_clip, out, manifest, signer)
    time.sleep(max(0.0, (certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).total_seconds()) + 1.5)
    report = read_c2pa(out, trust_anchors)
    assert report.state == "Invalid" and "signingCredential.expired" in report.failures


def test_manifest_recovered_through_the_watermark_after_stripping(signed_mp4, trust_anchors, tmp_path):
    path, manifest_bytes = signed_mp4
    store = ManifestStore.sqlite(tmp_path / "store.db")
    store.put(
        WATERMARK_ID, title=path.name, asset_sha256=sha256_of(path), manifest_json="{}", manifest_store=manifest_bytes
    )
    stripped = remux_without_metadata(path, tmp_path / "stripped.mp4")
    watermark = {"detected": True, "id": WATERMARK_ID, "p_value": 1e-12}
    report = verify_asset(stripped, trust_anchors=trust_anchors, watermark=watermark, store=store)
    assert report.c2pa.state == "absent"
    assert report.recovered and report.recovered_manifest.state == "Trusted"
    assert report.agreement is True and report.ai_generated is True
    # Intact file: no recovery, and the soft binding agrees with the watermark.
    intact = verify_asset(path, trust_anchors=trust_anchors, watermark=watermark, store=store)
    assert not intact.recovered and intact.agreement is True
    # A watermark naming another generation is a disagreement.
    other = verify_asset(path, trust_anchors=trust_anchors, watermark={**watermark, "id": "f" * 16}, store=store)
    assert other.agreement is False
    # A mark whose ID was lost (heavy processing) still says the file is Candor's, with nothing recovered.
    lost = verify_asset(stripped, trust_anchors=trust_anchors, watermark={**watermark, "id": None}, store=store)
    assert not lost.recovered and lost.agreement is None and lost.ai_generated is True
    assert any("ID could not be read" in note for note in lost.notes)
    # A mark in part of the video only (a generated excerpt spliced into other footage) is said so.
    spans = [{"start": float(t), "end": float(t + 1), "detected": t in (4, 5)} for t in range(8)]
    mixed = {**watermark, "spans": spans, "marked_seconds": [[4.0, 6.0]]}
    report = verify_asset(stripped, trust_anchors=trust_anchors, watermark=mixed, store=store)
    assert report.recovered and any("2 of 8 spans (4-6 s)" in note for note in report.notes)
    assert not any("spans" in note for note in intact.notes)


def test_store_never_overwrites_an_id(tmp_path):
    store = ManifestStore.sqlite(tmp_path / "s.db")
    store.put("aa" * 8, title="a", asset_sha256="0", manifest_json="{}", manifest_store=b"1")
    with pytest.raises(ProvenanceError, match="already stored"):
        store.put("aa" * 8, title="b", asset_sha256="0", manifest_json="{}", manifest_store=b"2")
    assert store.get("aa" * 8).manifest_store == b"1" and len(store) == 1


def _c2pa_ts(path: Path) -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    assert (INTEROP / "node_modules").is_dir(), "run `make setup` to install tools/c2pa-interop"
    result = subprocess.run(
        ["node", str(INTEROP / "validate.mjs"), str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_independent_implementation_validates_the_hard_binding(signed_mp4, tmp_path):
    """c2pa-ts (pure TypeScript, not c2pa-rs) agrees: the BMFF hash matches, and a flipped byte breaks it."""
    result = _c2pa_ts(signed_mp4[0])
    codes = {entry["code"]: entry["success"] for entry in result["statusEntries"]}
    assert result["isValid"] and codes["assertion.bmffHash.match"] and codes["claimSignature.validated"]
    tampered = _c2pa_ts(_tampered(signed_mp4[0], tmp_path, "flipped media byte"))
    assert not tampered["isValid"]
    assert any(e["code"] == "assertion.bmffHash.mismatch" for e in tampered["statusEntries"])


def test_signing_leaves_no_partial_file_on_failure(tmp_path, keys, manifest):
    source = tmp_path / "broken.mp4"
    source.write_bytes(b"not an mp4")
    with pytest.raises(SigningError):
        sign_asset(source, tmp_path / "out.mp4", manifest, load_signer(SignerConfig.from_directory(keys.directory)))
    assert not (tmp_path / "out.mp4").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken.mp4"]
    np.testing.assert_equal(source.read_bytes(), b"not an mp4")
