"""Content provenance: C2PA manifests (c2pa-python), keys and certificates, manifest store, verification."""
