"""Errors of the provenance package; each message names the file or setting at fault."""


class ProvenanceError(Exception):
    """Base class."""


class CertificateError(ProvenanceError):
    """A signing certificate or key is unusable for C2PA (wrong extensions, expired, mismatched key)."""


class SigningError(ProvenanceError):
    """The asset could not be signed."""
