"""Training data for the generator, served from a prepared corpus (see media.corpus)."""

from generator.data.pairs import FramePairDataset
from generator.data.windows import AudioFrameWindowDataset

__all__ = ["AudioFrameWindowDataset", "FramePairDataset"]
