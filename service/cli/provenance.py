"""`candor keys init`, `candor sign`, `candor verify`: C2PA signing identities, signing, verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from service.cli.errors import EXIT_BAD_INPUT, stderr, user_errors
from service.cli.paths import default_keys_dir, default_manifest_store

keys_app = typer.Typer(help="Manage C2PA signing keys and certificates.", no_args_is_help=True)
console = Console()

# `candor verify` exit codes (documented in the README).
EXIT_VERIFIED = 0
EXIT_NO_PROVENANCE = 1
EXIT_INVALID = 3


@keys_app.command("init")
def keys_init(
    directory: Annotated[Path | None, typer.Option("--dir", help="Key folder (default: $CANDOR_HOME/keys).")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing keys (files signed with them stop verifying).")] = False,
    valid_days: Annotated[int, typer.Option(min=1, help="Validity of the signer certificate.")] = 365,
) -> None:
    """Create a development CA and an ES256 signer certificate (keys written with mode 0600)."""
    from provenance.errors import ProvenanceError
    from provenance.keys import init_development_keys

    directory = directory or default_keys_dir()
    try:
        keys = init_development_keys(directory, overwrite=force, valid_days=valid_days)
    except ProvenanceError as err:
        stderr.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    console.print(f"development CA:      {keys.ca_cert}  (give this to verifiers as --trust-anchors)")
    console.print(f"signer certificate:  {keys.signer_chain}")
    console.print(f"signer private key:  {keys.signer_key}  (mode 0600)")


def sign(
    source: Annotated[Path, typer.Argument(help="MP4, PNG or JPEG to sign.")],
    destination: Annotated[Path, typer.Argument(help="Signed output file.")],
    keys_dir: Annotated[Path | None, typer.Option(help="Folder from `candor keys init`.")] = None,
    cert_chain: Annotated[Path | None, typer.Option(help="PEM chain (signer first) instead of --keys-dir.")] = None,
    private_key: Annotated[Path | None, typer.Option(help="PEM key for --cert-chain.")] = None,
    tsa_url: Annotated[str | None, typer.Option(help="RFC 3161 timestamp authority (default: none, offline).")] = None,
    model: Annotated[str, typer.Option(help="softwareAgent name of the generator.")] = "candor-generator",
    model_version: Annotated[str, typer.Option()] = "unknown",
    weights_sha256: Annotated[str, typer.Option(help="SHA-256 of the generator weights.")] = "unknown",
    watermark_id: Annotated[str | None, typer.Option(help="Generation ID carried by the file's watermark.")] = None,
    consent_id: Annotated[str | None, typer.Option(help="Consent record ID.")] = None,
    consent_sha256: Annotated[str | None, typer.Option(help="SHA-256 of the consent record.")] = None,
    store: Annotated[Path | None, typer.Option(help="Manifest store (default: $CANDOR_HOME/manifests.db).")] = None,
) -> None:
    """Sign a file as AI-generated (c2pa.created, trainedAlgorithmicMedia) with Candor's manifest."""
    from provenance.errors import ProvenanceError
    from provenance.keys import SignerConfig, load_signer
    from provenance.manifest import ConsentReference, GenerationProvenance, ModelIdentity, build_manifest
    from provenance.signing import sha256_of, sign_asset
    from provenance.store import ManifestStore
    from service.version import __version__
    from watermark.payload import parse_generation_id

    try:
        if cert_chain is not None:
            config = SignerConfig(cert_chain, private_key, tsa_url)
        else:
            config = SignerConfig.from_directory(keys_dir or default_keys_dir(), tsa_url)
        consent = ConsentReference(consent_id, consent_sha256 or "") if consent_id else None
        generation_id = parse_generation_id(watermark_id) if watermark_id else None
        record = GenerationProvenance(
            title=destination.name,
            model=ModelIdentity(model, model_version, weights_sha256),
            watermark_id=generation_id,
            consent=consent,
        )
        manifest = build_manifest(record, __version__)
        manifest_bytes = sign_asset(source, destination, manifest, load_signer(config))
        if generation_id:
            ManifestStore.sqlite(store or default_manifest_store()).put(
                generation_id,
                title=destination.name,
                asset_sha256=sha256_of(destination),
                manifest_json=json.dumps(manifest),
                manifest_store=manifest_bytes,
            )
    except (ProvenanceError, ValueError) as err:
        stderr.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    console.print(f"signed {destination} ({len(manifest_bytes)} byte manifest)")


def verify(
    file: Annotated[Path, typer.Argument(help="File to verify (MP4, PNG, JPEG).")],
    trust_anchors: Annotated[Path | None, typer.Option(help="PEM file of trusted root certificates.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False,
    store: Annotated[Path | None, typer.Option(help="Manifest store for recovery via the watermark.")] = None,
) -> None:
    """Verify C2PA provenance and the watermark; recover a stripped manifest through the watermark.

    Exit codes: 0 provenance verified (intact or recovered), 1 no provenance found,
    2 bad input, 3 invalid (tampered, untrusted chain failure, or manifest and watermark disagree).
    """
    from provenance.store import ManifestStore
    from provenance.verify import verify_asset

    with user_errors():
        if not file.is_file():
            from media.errors import UnreadableMediaError

            raise UnreadableMediaError(f"{file}: file not found")
        anchors = trust_anchors.read_text() if trust_anchors else None
        store_path = store or default_manifest_store()
        manifest_store = ManifestStore.sqlite(store_path) if store_path.exists() else None
        watermark = _read_watermark(file)
        report = verify_asset(file, trust_anchors=anchors, watermark=watermark, store=manifest_store)
    result = report.to_dict()
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        _print_report(result)
    raise typer.Exit(_exit_code(result))


def _read_watermark(file: Path) -> dict | None:
    """The watermark extractor's reading, or None (with a warning) when its weights are missing."""
    from media.weights import WeightsError
    from watermark.reader import read_watermark

    try:
        return read_watermark(file)
    except WeightsError as err:
        stderr.print(f"[yellow]warning:[/] watermark not checked: {err}", highlight=False, soft_wrap=True)
        return None


def _exit_code(report: dict) -> int:
    c2pa_state = report["c2pa"]["state"]
    if c2pa_state == "Invalid" or report["agreement"] is False:
        return EXIT_INVALID
    if c2pa_state in ("Trusted", "Valid") or report["recovered"]:
        return EXIT_VERIFIED
    return EXIT_NO_PROVENANCE


def _print_report(report: dict) -> None:
    c2pa_report = report["c2pa"]
    colour = {"Trusted": "green", "Valid": "yellow", "Invalid": "red", "absent": "dim"}[
        c2pa_state := c2pa_report["state"]
    ]
    console.print(f"[bold]{report['file']}[/]")
    console.print(f"  C2PA manifest:   [{colour}]{c2pa_state}[/]")
    if c2pa_report["failures"]:
        console.print(f"  failed checks:   {', '.join(c2pa_report['failures'])}")
    if c2pa_report["explanation"]:
        console.print(f"  reason:          {c2pa_report['explanation']}")
    manifest = c2pa_report if c2pa_state != "absent" else report.get("recovered_manifest")
    if report["recovered"]:
        console.print(f"  recovered:       [yellow]yes[/], via watermark ({manifest['state']} signature)")
    if manifest and manifest.get("signer"):
        console.print(f"  signer:          {manifest['signer']} (issuer {manifest['issuer']})")
        console.print(f"  signing time:    {manifest['signing_time'] or 'not timestamped'}")
        model = manifest.get("model") or {}
        console.print(
            f"  model:           {model.get('name')} {model.get('version')} (weights {model.get('weights_sha256')})"
        )
        consent = manifest.get("consent") or {}
        console.print(f"  consent record:  {consent.get('record_id', 'none')}")
    watermark = report["watermark"]
    if watermark is None:
        console.print("  watermark:       not checked (no watermark weights)")
    else:
        generation = f"ID {watermark['id']}" if watermark["id"] else "present, ID unreadable"
        found = f"{generation} (p = {watermark['p_value']:.1e})" if watermark["detected"] else "not detected"
        console.print(f"  watermark:       {found}")
    if report["agreement"] is not None:
        console.print(f"  agree:           {'yes' if report['agreement'] else '[red]NO[/]'}")
    ai = report["ai_generated"]
    console.print(f"  AI-generated:    {'unknown' if ai is None else ('yes' if ai else 'no')}")
    for note in report["notes"]:
        console.print(f"  note: {note}")
