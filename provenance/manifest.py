"""The C2PA manifest Candor attaches to every output.

Assertions: c2pa.actions.v2 (c2pa.created as trainedAlgorithmicMedia by the named model, and
c2pa.watermarked.bound), c2pa.soft-binding (the watermark ID, per time span), cawg.training-mining
(no AI training or mining: the subject is a real person), and com.candor.consent (the consent record's
ID and hash only, never its content). Portrait and audio appear as `inputTo` ingredients identified by
their SHA-256; no thumbnails, because they would copy personal data into every output.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from watermark.payload import SOFT_BINDING_ALG

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CONSENT_LABEL = "com.candor.consent"
CLAIM_GENERATOR = "Candor"


@dataclass(frozen=True)
class ModelIdentity:
    """Which generator made the content: name, version, and the SHA-256 of its weights."""

    name: str
    version: str
    weights_sha256: str


@dataclass(frozen=True)
class InputMedia:
    """An input of the generation (never embedded; identified by hash)."""

    role: str  # "portrait" | "audio"
    mime_type: str
    sha256: str


@dataclass(frozen=True)
class ConsentReference:
    record_id: str
    record_sha256: str


@dataclass(frozen=True)
class WatermarkSpan:
    """A time span (seconds) of the output in which the watermark carries `watermark_id`."""

    start: float
    end: float


@dataclass(frozen=True)
class GenerationProvenance:
    """Everything the manifest states about one output."""

    title: str
    model: ModelIdentity
    watermark_id: str | None = None
    watermark_spans: tuple[WatermarkSpan, ...] = ()
    inputs: tuple[InputMedia, ...] = ()
    consent: ConsentReference | None = None
    extra_assertions: tuple[dict[str, Any], ...] = field(default=())


def build_manifest(record: GenerationProvenance, software_version: str) -> dict[str, Any]:
    """The manifest definition JSON for c2pa.Builder."""
    agent = {"name": record.model.name, "version": record.model.version}
    actions = [
        {
            "action": "c2pa.created",
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": agent,
            "parameters": {"com.candor.weights_sha256": record.model.weights_sha256},
        }
    ]
    assertions: list[dict[str, Any]] = []
    if record.watermark_id is not None:
        actions.append({"action": "c2pa.watermarked.bound", "softwareAgent": {"name": "candor-watermark"}})
        assertions.append(
            {"label": "c2pa.soft-binding", "data": soft_binding(record.watermark_id, record.watermark_spans)}
        )
    assertions.insert(0, {"label": "c2pa.actions.v2", "data": {"actions": actions}})
    assertions.append(
        {
            "label": "cawg.training-mining",
            "data": {
                "entries": {
                    key: {"use": "notAllowed"}
                    for key in (
                        "cawg.ai_inference",
                        "cawg.ai_generative_training",
                        "cawg.ai_training",
                        "cawg.data_mining",
                    )
                }
            },
        }
    )
    if record.consent is not None:
        assertions.append(
            {
                "label": CONSENT_LABEL,
                "data": {"record_id": record.consent.record_id, "record_sha256": record.consent.record_sha256},
            }
        )
    assertions.extend(record.extra_assertions)
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": software_version}],
        "title": record.title,
        "assertions": assertions,
        "ingredients": [
            {
                "title": f"{media.role} (not embedded)",
                "format": media.mime_type,
                "relationship": "inputTo",
                "instance_id": f"urn:candor:sha256:{media.sha256}",
            }
            for media in record.inputs
        ],
    }


def soft_binding(watermark_id: str, spans: tuple[WatermarkSpan, ...]) -> dict[str, Any]:
    """c2pa.soft-binding data: one block per time span (milliseconds), value = base64 of the ID bytes."""
    value = base64.b64encode(bytes.fromhex(watermark_id)).decode()
    blocks = [
        {"scope": {"timespan": {"start": round(span.start * 1000), "end": round(span.end * 1000)}}, "value": value}
        for span in spans
    ] or [{"scope": {}, "value": value}]
    return {"alg": SOFT_BINDING_ALG, "blocks": blocks}


def soft_binding_id(data: dict[str, Any]) -> str | None:
    """The watermark ID (hex) in a c2pa.soft-binding assertion of Candor's algorithm, else None."""
    if data.get("alg") != SOFT_BINDING_ALG or not data.get("blocks"):
        return None
    return base64.b64decode(data["blocks"][0]["value"]).hex()
