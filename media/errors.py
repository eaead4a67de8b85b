"""Errors raised by media I/O.

Every error names the file (or input) it concerns and says what is wrong, so the CLI and the API can
show it to a user as one line instead of a stack trace.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class: a media input could not be used. `str(err)` is a user-facing one-line reason."""


class UnreadableMediaError(MediaError):
    """The file is missing, truncated, corrupt or not a media file."""


class UnsupportedFormatError(MediaError):
    """The file is readable but in a format Candor does not accept."""


class ImageTooLargeError(MediaError):
    """The image has absurd dimensions (decompression-bomb guard)."""


class AudioError(MediaError):
    """The audio is unusable (empty, silent, too long)."""


class EmptyAudioError(AudioError):
    """The audio has no samples."""


class SilentAudioError(AudioError):
    """The audio holds only silence."""


class AudioTooLongError(AudioError):
    """The audio is longer than the configured limit."""


class NoFaceFoundError(MediaError):
    """No face was found where one is required."""
