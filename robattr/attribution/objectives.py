"""The scalar an attribution explains: a logit, a log-probability, a class contrast, or the loss.

:data:`OBJECTIVES` names these explained scalars (an attribution method's ``objective``); what an attack on the maps
optimises is :data:`robattr.attacks.ATTACK_OBJECTIVES`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Objective = Literal["logit", "prob", "contrast", "loss"]
OBJECTIVES: tuple[str, ...] = ("logit", "prob", "contrast", "loss")


def check_objective(objective: str) -> None:
    """Raise a ``ValueError`` naming ``objective`` unless it is one of :data:`OBJECTIVES`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"Expected `objective` to be one of {list(OBJECTIVES)}, but got {objective!r}")


def select_objective(logits: Tensor, target: Tensor, objective: Objective = "logit") -> Tensor:
    """Per-sample scalar ``S`` of shape ``(N,)`` from logits ``(N, K)`` and class indices ``target`` ``(N,)``.

    - ``logit``: ``z_t`` (the default of every paper robattr implements);
    - ``prob``: ``log softmax(z)_t`` (the re-calibration code calls this "prob");
    - ``contrast``: ``z_t - sum_{j != t} w_j z_j`` with ``w = softmax(z_{j != t})``, Wang & Wang (NeurIPS 2022);
      gradients flow through ``w``;
    - ``loss``: RAR's cross-entropy ``-log(clip(softmax(z)_t, 1e-10, 1))``, the quantity whose IG RAR regularises.

    Samples never mix, so the gradient of ``S.sum()`` w.r.t. the inputs is the per-sample gradient.

    Example:
        >>> z = torch.tensor([[1.0, 2.0, 0.0]])
        >>> select_objective(z, torch.tensor([1]), "logit")
        tensor([2.])
        >>> select_objective(z, torch.tensor([1]), "contrast")
        tensor([1.2689])
    """
    check_objective(objective)
    t = target.view(-1, 1)
    if objective == "logit":
        return logits.gather(1, t).squeeze(1)
    if objective == "prob":
        return F.log_softmax(logits, dim=1).gather(1, t).squeeze(1)
    if objective == "loss":
        p = F.softmax(logits, dim=1).gather(1, t).squeeze(1)
        return -torch.log(p.clamp(1e-10, 1.0))
    z_t = logits.gather(1, t).squeeze(1)
    others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf"))
    w = F.softmax(others, dim=1)
    return z_t - (w * logits.masked_fill(torch.isinf(others), 0.0)).sum(1)
