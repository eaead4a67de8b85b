from __future__ import annotations

import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provenance.errors import CertificateError
from provenance.keys import (
    CA_KEY,
    SignerConfig,
    check_signing_certificate,
    init_development_keys,
    issue_signer_certificate,
    load_signer,
)


def test_init_writes_private_keys_0600_and_a_c2pa_ready_chain(keys):
    for name in ("signer.key", CA_KEY):
        assert stat.S_IMODE((keys.directory / name).stat().st_mode) == 0o600
    leaf, root = x509.load_pem_x509_certificates(keys.signer_chain.read_bytes())
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert (
        x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION
        in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    load_signer(SignerConfig.from_directory(keys.directory))


def test_init_never_overwrites_existing_keys(keys):
    before = keys.signer_key.read_bytes()
    with pytest.raises(CertificateError, match="already exist"):
        init_development_keys(keys.directory)
    assert keys.signer_key.read_bytes() == before


def _leaf(keys, **kwargs):
    ca_cert = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key((keys.directory / CA_KEY).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    return issue_signer_certificate(ca_cert, ca_key, key, **kwargs), key


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"include_eku": False}, "extendedKeyUsage"),
        ({"include_key_identifiers": False}, "subjectKeyIdentifier"),
        (
            {"not_before": datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30), "valid_days": 10},
            "expired",
        ),
    ],
)
def test_certificates_missing_requirements_are_rejected_with_reasons(keys, kwargs, message):
    certificate, _ = _leaf(keys, **kwargs)
    with pytest.raises(CertificateError, match=message):
        check_signing_certificate(certificate)


def test_load_signer_rejects_bad_certificate_and_mismatched_key(keys, tmp_path):
    certificate, key = _leaf(keys, include_eku=False)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + keys.ca_cert.read_bytes())
    with pytest.raises(CertificateError, match="not usable for C2PA"):
        load_signer(SignerConfig(chain, keys.signer_key))
    with pytest.raises(CertificateError, match="does not belong"):
        load_signer(SignerConfig(keys.signer_chain, _write_key(tmp_path, ec.generate_private_key(ec.SECP256R1()))))
    with pytest.raises(CertificateError, match="not found"):
        load_signer(SignerConfig(tmp_path / "nope.pem", keys.signer_key))


def _write_key(tmp_path, key):
    path = tmp_path / "other.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path
