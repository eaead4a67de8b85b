"""Signing identities for C2PA: a development CA, certificate checks, and c2pa signers.

C2PA validators accept an end-entity certificate only with: CA:false, keyUsage digitalSignature,
an allowed extended key usage (emailProtection, documentSigning or the C2PA claim-signing EKU),
and subject/authority key identifiers. `check_signing_certificate` checks all of that before
anything is signed, so a bad certificate fails at `candor keys`/sign time with a clear reason
rather than producing files that validate as Invalid.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from provenance.errors import CertificateError

DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
C2PA_CLAIM_SIGNING_EKU = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
ALLOWED_EKUS = {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_EKU, C2PA_CLAIM_SIGNING_EKU}

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SIGNER_CHAIN = "signer.pem"
SIGNER_KEY = "signer.key"


@dataclass(frozen=True)
class SignerConfig:
    """Where the signing identity comes from. Paths are PEM files.

    cert_chain: the signer certificate first, then any intermediates (the root may be left out).
    private_key: the signer's EC P-256 key (ES256). Use `callback` instead for a KMS/HSM.
    tsa_url: RFC 3161 timestamp authority; None keeps signing offline (no trusted signing time).
    """

    cert_chain: Path
    private_key: Path | None = None
    tsa_url: str | None = None

    @classmethod
    def from_directory(cls, directory: Path, tsa_url: str | None = None) -> SignerConfig:
        """The layout written by `candor keys init`."""
        return cls(Path(directory) / SIGNER_CHAIN, Path(directory) / SIGNER_KEY, tsa_url)


@dataclass(frozen=True)
class DevelopmentKeys:
    directory: Path
    ca_cert: Path
    signer_chain: Path
    signer_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Candor")]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Create with 0600 from the start: a chmod after writing would leave a window where others can read it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def issue_signer_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    signer_key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str = "Candor Development Signer",
    not_before: datetime.datetime | None = None,
    valid_days: int = 365,
    include_eku: bool = True,
    include_key_identifiers: bool = True,
) -> x509.Certificate:
    """An end-entity ES256 certificate with the extensions C2PA requires (switches exist for tests)."""
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
    )
    if include_eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    if include_key_identifiers:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def create_ca(common_name: str = "Candor Development CA", valid_days: int = 3650):
    """A self-signed EC P-256 root: (certificate, private key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def init_development_keys(directory: Path, *, overwrite: bool = False, valid_days: int = 365) -> DevelopmentKeys:
    """Write a development CA and an ES256 signer certificate chain + key into `directory`.

    Existing keys are never replaced unless `overwrite`: files signed with them would stop verifying.
    """
    directory = Path(directory)
    paths = DevelopmentKeys(directory, directory / CA_CERT, directory / SIGNER_CHAIN, directory / SIGNER_KEY)
    existing = [p for p in (paths.ca_cert, directory / CA_KEY, paths.signer_chain, paths.signer_key) if p.exists()]
    if existing and not overwrite:
        raise CertificateError(f"{directory}: keys already exist ({existing[0].name}); pass --force to replace them")
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = create_ca()
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = issue_signer_certificate(ca_cert, ca_key, signer_key, valid_days=valid_days)
    check_signing_certificate(signer_cert)
    _write_private(directory / CA_KEY, ca_key)
    _write_private(paths.signer_key, signer_key)
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.signer_chain.write_bytes(
        signer_cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return paths


def check_signing_certificate(certificate: x509.Certificate, *, at: datetime.datetime | None = None) -> None:
    """Raise CertificateError listing every C2PA requirement the end-entity certificate misses."""
    problems = []
    extensions = {ext.oid: ext.value for ext in certificate.extensions}
    basic = extensions.get(x509.oid.ExtensionOID.BASIC_CONSTRAINTS)
    if basic is not None and basic.ca:
        problems.append("it is a CA certificate (basicConstraints CA:true)")
    usage = extensions.get(x509.oid.ExtensionOID.KEY_USAGE)
    if usage is None or not usage.digital_signature:
        problems.append("keyUsage lacks digitalSignature")
    eku = extensions.get(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is None or not ALLOWED_EKUS & set(eku):
        problems.append("extendedKeyUsage lacks emailProtection, documentSigning or c2pa-kp-claimSigning")
    if x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER not in extensions:
        problems.append("no subjectKeyIdentifier")
    if x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in extensions:
        problems.append("no authorityKeyIdentifier")
    now = at or datetime.datetime.now(datetime.UTC)
    if now > certificate.not_valid_after_utc:
        problems.append(f"it expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    if now < certificate.not_valid_before_utc:
        problems.append(f"it is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}")
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
        problems.append("its key is not EC P-256 (needed for ES256)")
    if problems:
        subject = certificate.subject.rfc4514_string()
        raise CertificateError(f"signer certificate {subject} is not usable for C2PA: " + "; ".join(problems))


def _read_chain(path: Path) -> tuple[bytes, list[x509.Certificate]]:
    if not Path(path).is_file():
        raise CertificateError(f"{path}: certificate chain not found (run `candor keys init`)")
    data = Path(path).read_bytes()
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise CertificateError(f"{path}: not a PEM certificate chain ({err})") from err
    return data, chain


def load_signer(config: SignerConfig) -> c2pa.Signer:
    """A c2pa Signer from PEM files, after checking the certificate and that the key matches it."""
    chain_pem, chain = _read_chain(config.cert_chain)
    check_signing_certificate(chain[0])
    if config.private_key is None or not Path(config.private_key).is_file():
        raise CertificateError(f"{config.private_key}: private key not found")
    key_pem = Path(config.private_key).read_bytes()
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise CertificateError(f"{config.private_key}: not an unencrypted PEM private key ({err})") from err
    if key.public_key().public_numbers() != chain[0].public_key().public_numbers():
        raise CertificateError(
            f"{config.private_key}: the key does not belong to the certificate in {config.cert_chain}"
        )
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain_pem, key_pem, config.tsa_url)
    return c2pa.Signer.from_info(info)


def callback_signer(cert_chain: Path, sign: Callable[[bytes], bytes], *, tsa_url: str | None = None) -> c2pa.Signer:
    """A c2pa Signer whose ES256 signatures come from `sign(data) -> DER ECDSA signature` (KMS/HSM).

    The private key never enters this process; only the certificate chain is read here.
    """
    chain_pem, chain = _read_chain(cert_chain)
    check_signing_certificate(chain[0])
    return c2pa.Signer.from_callback(sign, c2pa.C2paSigningAlg.ES256, chain_pem.decode(), tsa_url)
