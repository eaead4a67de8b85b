"""Shared training-run helpers: the learning-rate schedule, atomic checkpoints and run lineage."""

from __future__ import annotations

import pytest
import torch

from generator.training.run import lineage_card, run_lineage, save_state, warmup_cosine


def test_warmup_then_cosine_down_to_the_floor():
    rates = [warmup_cosine(step, 100, 10, 1e-3, floor=0.1) for step in range(101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3, rel=0.03)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[100] == pytest.approx(1e-4)


def test_checkpoints_replace_atomically(tmp_path):
    path = tmp_path / "state.pt"
    save_state(path, {"step": 1})
    save_state(path, {"step": 2, "weights": torch.ones(3)})
    assert torch.load(path, weights_only=True)["step"] == 2 and not list(tmp_path.glob("*.tmp"))


def test_lineage_keeps_the_starting_weights_and_each_configuration_across_resumes():
    first = run_lineage(None, {"steps": 10, "scale": (0.9, 1.1)}, 0, "abc")
    assert lineage_card(first) == {"initialised_from_sha256": "abc"}
    same = run_lineage(first, {"steps": 10, "scale": (0.9, 1.1)}, 4, None)  # resumed without --init-from
    assert same == first
    longer = run_lineage(same, {"steps": 20, "scale": (0.9, 1.1)}, 10, None)
    card = lineage_card(longer)
    assert card["initialised_from_sha256"] == "abc"
    assert [(s["from_step"], s["training"]["steps"]) for s in card["training_segments"]] == [(0, 10), (10, 20)]
    # A checkpoint written before lineage was kept: what came before the resume is unknown, and says so.
    legacy = lineage_card(run_lineage(None, {"steps": 20}, 7, None))
    assert legacy["training_segments"][0]["from_step"] == 7 and legacy["initialised_from_sha256"] is None
