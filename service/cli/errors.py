"""Turning expected failures into one-line messages and exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from media.errors import MediaError

# Exit codes documented in the README.
EXIT_BAD_INPUT = 2

stderr = Console(stderr=True)


@contextlib.contextmanager
def user_errors(*also: type[Exception]) -> Iterator[None]:
    """Report bad input (MediaError, and the `also` types) as `error: <reason>` on stderr and exit
    with EXIT_BAD_INPUT, no traceback."""
    try:
        yield
    except (MediaError, *also) as err:
        stderr.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
