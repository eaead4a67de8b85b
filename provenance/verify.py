"""Verification of a file's provenance, for Candor itself and for downstream platforms.

Two independent signals: the embedded C2PA manifest (signature, chain to trust anchors, hard
binding to the bytes) and the invisible watermark (read by the caller and passed in). When the
manifest is missing (metadata stripped or the file re-encoded) and the watermark names a generation,
the manifest is recovered from the store by that ID: durable content credentials. A recovered
manifest is reported separately from an intact one.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from provenance.manifest import CONSENT_LABEL, TRAINED_ALGORITHMIC_MEDIA, soft_binding_id
from provenance.store import ManifestStore

UNREADABLE_CODE = "candor.asset.unreadable"


@dataclass
class C2paReport:
    """What a C2PA manifest says and whether it holds.

    state: "Trusted" (valid and chained to a trust anchor), "Valid" (valid, signer not trusted),
    "Invalid" (a check failed; see failures) or "absent" (no manifest).
    """

    state: str
    codes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    explanation: str | None = None
    signer: str | None = None
    issuer: str | None = None
    signing_time: str | None = None
    ai_generated: bool | None = None
    model: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    soft_binding_id: str | None = None
    title: str | None = None


@dataclass
class VerificationReport:
    file: str
    c2pa: C2paReport
    watermark: dict[str, Any] | None
    recovered: bool = False
    recovered_manifest: C2paReport | None = None
    agreement: bool | None = None
    ai_generated: bool | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _settings(trust_anchors: str | None) -> c2pa.Settings:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors:
        settings["verify"]["verify_trust"] = True
        settings["trust"] = {"trust_anchors": trust_anchors}
    else:
        settings["verify"]["verify_trust"] = False
    return c2pa.Settings.from_dict(settings)


def read_c2pa(path: Path, trust_anchors: str | None = None) -> C2paReport:
    """Validate the manifest embedded in `path`. `trust_anchors`: PEM text of trusted roots."""
    context = c2pa.Context(settings=_settings(trust_anchors))
    try:
        reader = c2pa.Reader.try_create(str(path), context=context)
    except c2pa.C2paError as err:
        return C2paReport("Invalid", codes=[UNREADABLE_CODE], failures=[UNREADABLE_CODE], explanation=str(err))
    if reader is None:
        return C2paReport("absent")
    with reader:
        return _report(reader, trust_anchors is not None)


def read_manifest_store(manifest_store: bytes, trust_anchors: str | None = None) -> C2paReport:
    """Validate a stored manifest on its own (no asset): signature and chain hold, the hard binding
    cannot, since the asset it was bound to is not at hand."""
    context = c2pa.Context(settings=_settings(trust_anchors))
    try:
        with c2pa.Reader("application/c2pa", io.BytesIO(manifest_store), context=context) as reader:
            report = _report(reader, trust_anchors is not None)
    except c2pa.C2paError as err:
        return C2paReport("Invalid", codes=[UNREADABLE_CODE], failures=[UNREADABLE_CODE], explanation=str(err))
    binding_failures = [code for code in report.failures if code.startswith("assertion.bmffHash")]
    report.failures = [code for code in report.failures if code not in binding_failures]
    if report.state == "Invalid" and not report.failures:
        report.state = "Trusted" if "signingCredential.trusted" in report.codes else "Valid"
    return report


def _report(reader: c2pa.Reader, trust_checked: bool) -> C2paReport:
    store = json.loads(reader.json())
    results = reader.get_validation_results() or {}
    active = results.get("activeManifest") or {}
    failures = [entry["code"] for entry in active.get("failure", [])]
    codes = [entry["code"] for kind in ("success", "informational", "failure") for entry in active.get(kind, [])]
    state = reader.get_validation_state() or ("Invalid" if failures else "Valid")
    if not trust_checked and state == "Invalid" and set(failures) <= {"signingCredential.untrusted"}:
        state = "Valid"
    manifest = store["manifests"][store["active_manifest"]]
    signature = manifest.get("signature_info") or {}
    report = C2paReport(
        state=state,
        codes=codes,
        failures=failures,
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        signing_time=signature.get("time"),
        title=manifest.get("title"),
    )
    _read_assertions(report, manifest.get("assertions", []))
    return report


def _read_assertions(report: C2paReport, assertions: list[dict[str, Any]]) -> None:
    report.ai_generated = False
    for assertion in assertions:
        label, data = assertion.get("label", ""), assertion.get("data", {})
        if label.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                if action.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA:
                    report.ai_generated = True
                    report.model = {
                        **(action.get("softwareAgent") or {}),
                        "weights_sha256": (action.get("parameters") or {}).get("com.candor.weights_sha256"),
                    }
        elif label == "c2pa.soft-binding":
            report.soft_binding_id = soft_binding_id(data)
        elif label == CONSENT_LABEL:
            report.consent = dict(data)


def verify_asset(
    path: Path,
    *,
    trust_anchors: str | None = None,
    watermark: dict[str, Any] | None = None,
    store: ManifestStore | None = None,
) -> VerificationReport:
    """Combine C2PA validation, the watermark reading (`watermark`, the extractor's JSON) and recovery."""
    c2pa_report = read_c2pa(path, trust_anchors)
    report = VerificationReport(file=str(path), c2pa=c2pa_report, watermark=watermark)
    watermark_id = watermark.get("id") if watermark and watermark.get("detected") else None
    if c2pa_report.soft_binding_id and watermark_id:
        report.agreement = c2pa_report.soft_binding_id == watermark_id
        if not report.agreement:
            report.notes.append("the watermark names a different generation than the manifest's soft binding")
    if c2pa_report.state == "absent" and watermark_id:
        stored = store.get(watermark_id) if store is not None else None
        if stored is None:
            report.notes.append(f"watermark {watermark_id} found but no stored manifest for it")
        else:
            report.recovered = True
            report.recovered_manifest = read_manifest_store(stored.manifest_store, trust_anchors)
            report.agreement = report.recovered_manifest.soft_binding_id == watermark_id
            report.notes.append("manifest recovered through the watermark (the file's own manifest is missing)")
    if c2pa_report.state in ("Trusted", "Valid"):
        report.ai_generated = c2pa_report.ai_generated
    elif report.recovered_manifest is not None and report.recovered_manifest.state in ("Trusted", "Valid"):
        report.ai_generated = report.recovered_manifest.ai_generated
    elif watermark and watermark.get("detected"):
        report.ai_generated = True
    if watermark and watermark.get("detected") and not watermark_id:
        report.notes.append("Candor's watermark is present but its generation ID could not be read")
    spans = (watermark or {}).get("spans") or []
    marked = [span for span in spans if span.get("detected")]
    if watermark and watermark.get("detected") and 0 < len(marked) < len(spans):
        where = ", ".join(f"{start:g}-{end:g} s" for start, end in watermark.get("marked_seconds", []))
        report.notes.append(
            f"the watermark reads in {len(marked)} of {len(spans)} spans ({where}): "
            "generated footage may be mixed with other footage"
        )
    return report
