"""DiffID as a torchmetrics class (logic in :mod:`.functional.diffid`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from robattr.metrics.functional._utils import _mean_stats
from robattr.metrics.functional.diffid import (
    DEFAULT_RATIOS,
    _check_ratios,
    _diffid_compute,
    _diffid_outputs,
    _diffid_sq_sums,
    _diffid_values,
)


class DiffID(Metric):
    r"""DiffID (Yang et al., AAAI 2023): insertion minus deletion of the target logit ratio and accuracy, per ratio.

    .. math:: \mathrm{DiffID}(r) = \overline{z'_t / z_t}\,(\text{insertion}, r)
        - \overline{z'_t / z_t}\,(\text{deletion}, r)

    The states are per-ratio sums of the logit ratios and of the correct predictions of both games, the sums of the
    squared per-image outputs (for ``compute_stats``: mean, standard error and n of every output), and the number
    of images, all summed across processes (``dist_reduce_fx="sum"``), so the DDP result equals one process on all
    images. The model runs outside: build the perturbed images with
    :func:`~robattr.metrics.functional.diffid_inputs` and pass its logits. See :mod:`.functional.diffid` for the
    procedure, the two scalars (trapezoid area and mean) and the deviations from the released evaluator.

    As input to ``forward`` and ``update`` the metric accepts ``clean_logits`` ``(N, K)``, ``perturbed_logits``
    ``(2, R, N, K)`` (insertion, deletion), ``target`` ``(N,)`` and an optional bool ``valid`` ``(N,)``.

    Args:
        ratios: fractions of removed pixels, each in ``(0, 1)`` (default 0.1, 0.2, ..., 0.9).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: for an empty ``ratios`` or a ratio outside ``(0, 1)``.

    Example:
        >>> metric = DiffID(ratios=[0.5])
        >>> metric.update(torch.tensor([[2.0, 0.0]]), torch.tensor([[[[1.5, 0.0]]], [[[0.5, 1.0]]]]), torch.tensor([0]))
        >>> metric.compute()["diffid_logit_mean"]
        tensor(0.5000)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    logit_ratio_sum: Tensor
    correct_sum: Tensor
    sq_sum: Tensor
    total: Tensor

    def __init__(self, ratios: Sequence[float] = DEFAULT_RATIOS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_ratios(ratios)
        self.ratios = tuple(float(r) for r in ratios)
        r = len(self.ratios)
        self.add_state("logit_ratio_sum", default=torch.zeros(2, r, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct_sum", default=torch.zeros(2, r, dtype=torch.float64), dist_reduce_fx="sum")
        # per output (curves of R values, then the 4 scalars), the sum of the squared per-image values
        self.add_state("sq_sum", default=torch.zeros(6 * r + 4, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(
        self, clean_logits: Tensor, perturbed_logits: Tensor, target: Tensor, valid: Tensor | None = None
    ) -> None:
        """Add a batch: the logits on the clean and on the perturbed images."""
        if perturbed_logits.dim() == 4 and perturbed_logits.shape[1] != len(self.ratios):
            raise ValueError(
                f"Expected `perturbed_logits` with {len(self.ratios)} ratios in dim 1, but got"
                f" {tuple(perturbed_logits.shape)}"
            )
        ratio, correct = _diffid_values(clean_logits, perturbed_logits, target, valid)
        self.logit_ratio_sum += ratio.sum(2)
        self.correct_sum += correct.sum(2)
        self.sq_sum += torch.cat([v.reshape(-1) for v in _diffid_sq_sums(ratio, correct, self.ratios).values()])
        self.total += ratio.shape[2]

    def compute(self) -> dict[str, Tensor]:
        """The curves ``(R,)`` and scalars of :func:`~robattr.metrics.functional.diffid` (NaN before any image)."""
        return _diffid_compute(self.logit_ratio_sum, self.correct_sum, self.total, self.ratios)

    def compute_stats(self) -> dict[str, dict[str, Tensor]]:
        """``{output: {"mean", "se", "n"}}`` for every output of :meth:`compute` (curves ``(R,)``, scalars ``()``):
        the mean over images, its standard error (``ddof=1``; NaN below two images) and the number of images.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            x = torch.tensor(self.ratios, dtype=torch.float64, device=self.total.device)
            sums = _diffid_outputs(self.logit_ratio_sum, self.correct_sum, x)
            stats, start = {}, 0
            for name, total in sums.items():
                size = total.numel()
                sq = self.sq_sum[start : start + size].view(total.shape)
                start += size
                stats[name] = _mean_stats(total, sq, self.total)
            return stats
