"""Losses of the face latent space (pure functions). Images are (B, 3, S, S) float in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim

# Three MS-SSIM scales: the standard five need crops above 160 px, and the tiny preset is 128 px.
MS_SSIM_WEIGHTS = (0.2, 0.35, 0.45)

DiscriminatorOutput = list[tuple[torch.Tensor, list[torch.Tensor]]]


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).abs().mean()


def ms_ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM over three scales (window 7, fits 128 px)."""
    similarity = ms_ssim(prediction.float(), target.float(), data_range=1.0, win_size=7, weights=list(MS_SSIM_WEIGHTS))
    return 1 - similarity


def feature_matching(fake: DiscriminatorOutput, real: DiscriminatorOutput) -> torch.Tensor:
    """L1 between discriminator features of the rendering and of the real frame (pix2pixHD)."""
    total, count = 0.0, 0
    for (_, fake_features), (_, real_features) in zip(fake, real, strict=True):
        for fake_feature, real_feature in zip(fake_features, real_features, strict=True):
            total = total + l1(fake_feature, real_feature.detach())
            count += 1
    return total / count


def generator_adversarial(fake: DiscriminatorOutput) -> torch.Tensor:
    """Hinge loss for the generator: raise the discriminator's logits on renderings."""
    return sum(-logits.mean() for logits, _ in fake) / len(fake)


def discriminator_hinge(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Hinge loss for the discriminator (fake outputs computed on detached renderings)."""
    total = 0.0
    for (real_logits, _), (fake_logits, _) in zip(real, fake, strict=True):
        total = total + F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return total / len(real)


def pairwise_transfer(render_i_with_pose_j: torch.Tensor, render_j_with_dyn_i: torch.Tensor) -> torch.Tensor:
    """VASA-1's pairwise head pose and facial dynamics transfer loss.

    For frames i, j of one clip, frame i re-posed with z_pose_j and frame j given z_dyn_i both show
    (identity of the clip, pose j, dynamics i): the two renderings must agree.
    """
    return l1(render_i_with_pose_j, render_j_with_dyn_i)


def cross_identity_consistency(
    reencoded_identity: torch.Tensor,
    source_identity: torch.Tensor,
    reencoded_pose: torch.Tensor,
    driver_pose: torch.Tensor,
    reencoded_dynamics: torch.Tensor,
    driver_dynamics: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Re-encoding a cross-identity reenactment gives back the source z_id and the driver's motion.

    Targets are detached: the reenactment must match the codes, not the other way round.
    """
    return {
        "identity": (1 - F.cosine_similarity(reencoded_identity, source_identity.detach(), dim=-1)).mean(),
        "pose": F.smooth_l1_loss(reencoded_pose, driver_pose.detach(), beta=0.05),
        "dynamics": F.smooth_l1_loss(reencoded_dynamics, driver_dynamics.detach(), beta=0.1),
    }


def cycle_consistency(cycled: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """A -> (A with B's motion) -> back with A's own motion must give A again."""
    return l1(cycled, original)


def identity_contrastive(identity: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss on unit z_id (B, id_dim): same-identity codes together, others apart.

    Without it z_id could collapse to a constant and "keeps identity" would mean nothing.
    """
    similarity = identity @ identity.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    has_positive = positives.any(dim=1)
    if not has_positive.any():
        return identity.new_zeros(())
    log_prob = similarity.masked_fill(eye, float("-inf")).log_softmax(dim=1)
    mean_positive = (log_prob.masked_fill(~positives, 0).sum(1) / positives.sum(1).clamp(min=1))[has_positive]
    return -mean_positive.mean()


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB (B,)."""
    mse = ((prediction.float() - target.float()) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return -10 * torch.log10(mse)


def ssim_score(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (B,) with the standard 11-px Gaussian window."""
    return ssim(prediction.float(), target.float(), data_range=1.0, size_average=False)


def gaze_consistency(rendered: torch.Tensor, driving: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the gaze network's iris offsets (B, 2) on the rendering and on the
    driving frame, over the samples whose eyes were found (zero, with a graph, when none were)."""
    if not bool(found.any()):
        return rendered.sum() * 0
    return (rendered - driving)[found].abs().mean()
