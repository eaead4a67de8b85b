"""The installed Candor version (from the package metadata)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("candor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
