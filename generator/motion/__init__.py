"""Holistic motion generation (VASA-1 §3.2): a diffusion transformer over [z_pose, z_dyn] windows."""
