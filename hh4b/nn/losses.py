"""SPA-NET losses: jet-assignment negative log-likelihood and event classification.

Assignment: each truth Higgs k with both b jets matched (targets >= 0) has the unordered pair
probability P_m(a, b) = 2 exp(log_p_m[a, b]) under model branch m (the score matrix is
symmetric). The Higgs labels are interchangeable, so per event the loss is the smaller of
NLL(branch1 <- h1, branch2 <- h2) and NLL(branch1 <- h2, branch2 <- h1). Partially matched
events contribute only their matched Higgs; background events (no matched Higgs) nothing.
The batch loss is the sum over events divided by the number of matched Higgs bosons.

Classification: binary cross-entropy on the signal logit with event weights, normalised by
the weight sum. Total = assignment_scale * assignment + classification_scale * classification;
an assignment scale of 0 gives a pure classifier (notes section 10).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LOG_TWO = math.log(2.0)


def assignment_loss(pair_log_prob: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """pair_log_prob (B, 2, J, J), targets (B, 2, 2) jet indices or -1 -> scalar loss."""
    n_batch, _, n_jets, _ = pair_log_prob.shape
    matched = (targets >= 0).all(dim=-1)  # (B, k)
    safe = targets.clamp(min=0)
    target_flat = safe[..., 0] * n_jets + safe[..., 1]  # (B, k)
    flat = pair_log_prob.flatten(2)  # (B, m, J*J)
    log_p = torch.gather(flat, 2, target_flat.unsqueeze(1).expand(n_batch, 2, 2))  # (B, m, k)
    nll = -(log_p + LOG_TWO) * matched.unsqueeze(1)
    direct = nll[:, 0, 0] + nll[:, 1, 1]
    swapped = nll[:, 0, 1] + nll[:, 1, 0]
    return torch.minimum(direct, swapped).sum() / matched.sum().clamp(min=1)


def classification_loss(logit: torch.Tensor, signal: torch.Tensor, weight: torch.Tensor | None = None):
    """Weighted binary cross-entropy of the signal logit (B,) against labels (B,) in {0, 1}."""
    per_event = F.binary_cross_entropy_with_logits(logit, signal.to(logit.dtype), reduction="none")
    if weight is None:
        return per_event.mean()
    return (per_event * weight).sum() / weight.sum().clamp(min=1e-12)


def total_loss(outputs: dict, batch: dict, assignment_scale: float = 1.0,
               classification_scale: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Scaled sum of both losses; returns (loss, {"assignment": float, "classification": float})."""
    parts = {"assignment": assignment_loss(outputs["pair_log_prob"], batch["targets"]),
             "classification": classification_loss(outputs["class_logit"], batch["signal"],
                                                    batch.get("weight"))}
    loss = assignment_scale * parts["assignment"] + classification_scale * parts["classification"]
    return loss, {k: float(v.detach()) for k, v in parts.items()}
