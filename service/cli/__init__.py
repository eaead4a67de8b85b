"""The `candor` command-line interface."""
