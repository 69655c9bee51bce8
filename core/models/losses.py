"""Training losses of DiffusionTalker: contrastive (InfoNCE) for the personalizer, reconstruction and dynamics for the denoiser.

Motion losses take (batch, frames, channels) tensors and an optional (batch, frames) bool mask of the frames that count.
"""

from __future__ import annotations

import torch

UNKNOWN_LABEL = -1  # a clip whose speaker/emotion is not known takes part in no contrastive pair


def supervised_contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE with labels in the batch (SupCon, Khosla et al. 2020): same label attracts, every other clip repels.

    embeddings: (batch, dim), L2-normalised. labels: (batch,) int, UNKNOWN_LABEL to leave a clip out.
    For each anchor with at least one positive, the loss is the mean over its positives p of
    -log( exp(s_ap / T) / sum_{k != a} exp(s_ak / T) ). Batches need repeated labels (e.g. K clips per speaker);
    a batch with no positive pair gives 0 (still attached to the graph).
    """
    known = labels != UNKNOWN_LABEL
    embeddings, labels = embeddings[known], labels[known]
    n = labels.shape[0]
    if n < 2:
        return embeddings.sum() * 0.0
    logits = embeddings @ embeddings.T / temperature  # (n, n)
    self_pair = torch.eye(n, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_pair, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (n, n)
    positive = (labels[:, None] == labels[None, :]) & ~self_pair
    positives_per_anchor = positive.sum(dim=1)
    has_positive = positives_per_anchor > 0
    if not has_positive.any():
        return embeddings.sum() * 0.0
    mean_log_prob = log_prob.masked_fill(~positive, 0.0).sum(dim=1)[has_positive] / positives_per_anchor[has_positive]
    return -mean_log_prob.mean()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of (batch, frames, channels) values over the frames where mask (batch, frames) is True."""
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype)[..., None].expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def weighted_reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, channel_weights: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error per channel, scaled by channel_weights (channels,) (e.g. heavier on the mouth)."""
    return _masked_mean((pred - target) ** 2 * channel_weights, mask)


def velocity_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between frame-to-frame differences: motion must move like the target, not only sit near it."""
    pair_mask = None if mask is None else mask[:, 1:] & mask[:, :-1]
    return _masked_mean((pred.diff(dim=1) - target.diff(dim=1)) ** 2, pair_mask)


def acceleration_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between second differences: penalises jitter the target does not have (smoothness)."""
    triple_mask = None if mask is None else mask[:, 2:] & mask[:, 1:-1] & mask[:, :-2]
    return _masked_mean((pred.diff(n=2, dim=1) - target.diff(n=2, dim=1)) ** 2, triple_mask)


def cross_modal_contrastive_loss(
    a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE between two views (batch, dim) each L2-normalised: a_i attracts every b_j with labels_j == labels_i.

    Used by the personalizer enhancer (L_pc): a = personalization embeddings, b = embeddings of the generated
    upper-face motion, labels = style group (speaker x emotion). Symmetric (a -> b and b -> a).
    """
    logits = a @ b.T / temperature  # (batch, batch)
    positive = labels[:, None] == labels[None, :]
    log_ab = logits.log_softmax(dim=1)
    log_ba = logits.T.log_softmax(dim=1)
    per_row = positive.sum(dim=1).clamp_min(1)
    loss_ab = -(log_ab.masked_fill(~positive, 0.0).sum(dim=1) / per_row)
    loss_ba = -(log_ba.masked_fill(~positive.T, 0.0).sum(dim=1) / per_row)
    return 0.5 * (loss_ab.mean() + loss_ba.mean())
