"""Entry point of the `candor` console script."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from service.cli import data, face, generate, provenance, train, watermark

app = typer.Typer(
    name="candor",
    help="Candor: responsible talking-face generation (generator, watermark, provenance, detector).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(face.app, name="face")
app.add_typer(provenance.keys_app, name="keys")
app.add_typer(watermark.app, name="watermark")
app.command()(generate.generate)
app.command()(provenance.sign)
app.command()(provenance.verify)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(show_path=False)],
    )


if __name__ == "__main__":
    app()
