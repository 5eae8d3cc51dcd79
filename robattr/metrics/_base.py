"""Shared base of the metrics that average a per-sample score (private)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from robattr.metrics.functional._utils import _mean_compute


class _MeanOverSamples(Metric):
    """Mean of a per-sample score over every valid sample seen, kept as ``score_sum`` / ``total`` sum states.

    Subclasses compute ``(score_sum, total)`` of a batch with their functional ``_x_update`` helper and pass it to
    :meth:`_accumulate`; both states are summed across processes, so the DDP result equals one process on all data.
    """

    is_differentiable = False
    full_state_update = False
    score_sum: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("score_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate(self, score_sum: Tensor, total: Tensor) -> None:
        self.score_sum += score_sum
        self.total += total

    def compute(self) -> Tensor:
        """Mean score over the valid samples (NaN before any valid sample)."""
        return _mean_compute(self.score_sum, self.total).to(torch.get_default_dtype())
