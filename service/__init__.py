"""Candor service layer: the `candor` CLI (and, later, the HTTP API)."""
