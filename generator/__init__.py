"""VASA-style talking-face generator: face latent space, audio features, motion diffusion, pipeline."""
