"""Gaze estimation from the eye region: the labeller of the motion model's gaze control."""
