"""Learned invisible watermark: payload codec, embedder/extractor, attacks, decision."""
