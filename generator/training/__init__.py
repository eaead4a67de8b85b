"""Trainers for the generator's networks (kept apart from the models, which know nothing of training)."""
