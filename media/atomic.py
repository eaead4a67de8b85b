"""Files that appear whole or not at all.

A writer works on a hidden partial file beside its destination and moves it into place only once the
file is complete (`os.replace`, atomic on one filesystem). A failure half-way (a source that turns out
corrupt after ten minutes of frames, a full disk, Ctrl-C) then leaves the destination as it was, and a
destination that is also the source being read (`candor watermark embed clip.mp4 clip.mp4`) is read
whole before it is replaced: written in place, the output would truncate the input it is still
reading (a 250-frame clip came out with 105 frames, and the command said it had succeeded).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(destination: str | Path) -> Path:
    """A new, empty hidden file beside `destination` (same directory, so the final move is atomic),
    created with the permissions of any new file (the process's umask applies)."""
    destination = Path(destination)
    while True:
        partial = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.partial"
        try:
            os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return partial
        except FileExistsError:
            continue


def publish(partial: Path, destination: str | Path) -> None:
    """Move the finished `partial` onto `destination`."""
    os.replace(partial, destination)


@contextmanager
def atomic_destination(destination: str | Path) -> Iterator[Path]:
    """Yield a partial path to write; on success it replaces `destination`, on an error it is removed
    and `destination` is untouched."""
    partial = partial_path(destination)
    try:
        yield partial
        publish(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
