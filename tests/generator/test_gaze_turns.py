from __future__ import annotations

import numpy as np
import torch

from generator.data.gaze_turns import GazeTurnAugmentation, add_gaze_turns, turn_profile


def test_turns_move_head_and_label_together_and_start_where_the_context_ends():
    rng = np.random.default_rng(0)
    motion, gaze = torch.randn(6, 30, 10), torch.randn(6, 2)
    eligible = torch.tensor([True, True, True, False, False, True])
    pose_std = np.radians([4.0, 2.0])
    turned, labels = add_gaze_turns(
        motion, gaze, eligible, GazeTurnAugmentation(probability=1.0, max_std=3.0), pose_std, rng
    )
    change = turned - motion
    assert torch.equal(change[~eligible], torch.zeros_like(change[~eligible]))
    assert torch.equal(labels[~eligible], gaze[~eligible])
    assert torch.count_nonzero(change[..., 2:]) == 0  # roll, translation, scale and dynamics untouched
    yaw_pitch = change[eligible][..., :2]
    assert (yaw_pitch.abs().amax(dim=1) > 0).all()
    assert (yaw_pitch.abs().amax(dim=1) <= torch.tensor(3 * pose_std, dtype=torch.float32) + 1e-6).all()
    # The turn grows smoothly from (almost) nothing: no jump against the context at frame 0.
    assert (yaw_pitch[:, 0].abs() <= 0.13 * yaw_pitch[:, -1].abs() + 1e-6).all()
    assert torch.allclose(labels[eligible] - gaze[eligible], yaw_pitch.mean(dim=1), atol=1e-6)


def test_no_turns_when_off_or_nothing_is_eligible():
    rng = np.random.default_rng(1)
    motion, gaze = torch.randn(4, 12, 8), torch.randn(4, 2)
    for augmentation, eligible in (
        (GazeTurnAugmentation(probability=0.0), torch.ones(4, dtype=torch.bool)),
        (GazeTurnAugmentation(probability=1.0), torch.zeros(4, dtype=torch.bool)),
    ):
        turned, labels = add_gaze_turns(motion, gaze, eligible, augmentation, np.ones(2), rng)
        assert torch.equal(turned, motion) and torch.equal(labels, gaze)


def test_turn_profile_settles():
    profile = turn_profile(50, 8.0)
    assert np.all(np.diff(profile) > 0) and profile[0] < 0.12 and profile[-1] > 0.99
