"""Sensitivity-n as a torchmetrics class (logic in :mod:`.functional.sensitivity`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from robattr.metrics.functional._utils import _mean_stats
from robattr.metrics.functional.diffid import DEFAULT_RATIOS, _check_ratios
from robattr.metrics.functional.sensitivity import _sensitivity_n_compute, _sensitivity_n_update


class SensitivityN(Metric):
    r"""Sensitivity-n (Ancona et al. 2018): per ratio, the mean and std over images of the Pearson correlation
    between the map's mass on random removed pixel sets and the resulting drop of the target logit.

    .. math:: \rho_q(x) = \mathrm{corr}_{S \sim \mathrm{Bern}(q)}\Big(\sum_{i \in S} M_i,\; z_t(x) - z_t(x_{[S]})\Big)

    States: per-ratio sums of the correlations, of their squares and the count of images with a defined
    correlation, summed across processes. The model runs outside: draw masks with
    :func:`~robattr.metrics.functional.sensitivity_n_masks`, build the inputs with
    :func:`~robattr.metrics.functional.sensitivity_n_inputs` and pass the logits.

    As input to ``forward`` and ``update`` the metric accepts ``maps`` ``(N, H, W)``, ``masks``
    ``(R, D, N, H, W)``, ``clean_logits`` ``(N, K)``, ``perturbed_logits`` ``(R, D, N, K)``, ``target`` ``(N,)`` and
    an optional bool ``valid`` ``(N,)``.

    Args:
        ratios: the ``R`` Bernoulli probabilities ``q``, each in ``(0, 1)``.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> maps = torch.tensor([[[1.0, 2.0, 3.0]]])
        >>> masks = torch.tensor([[[[[True, False, False]]], [[[False, True, True]]], [[[True, True, False]]]]])
        >>> logits = torch.stack([10 - 2 * (maps * masks).sum((-1, -2)), torch.zeros(1, 3, 1)], -1)
        >>> metric = SensitivityN(ratios=[0.5])
        >>> metric.update(maps, masks, torch.tensor([[10.0, 0.0]]), logits, torch.tensor([0]))
        >>> metric.compute()["mean"]  # torchmetrics squeezes one-element results
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    corr_sum: Tensor
    corr_sq_sum: Tensor
    count: Tensor

    def __init__(self, ratios: Sequence[float] = DEFAULT_RATIOS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_ratios(ratios)
        self.ratios = tuple(float(r) for r in ratios)
        r = len(self.ratios)
        self.add_state("corr_sum", default=torch.zeros(r, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("corr_sq_sum", default=torch.zeros(r, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(r, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self,
        maps: Tensor,
        masks: Tensor,
        clean_logits: Tensor,
        perturbed_logits: Tensor,
        target: Tensor,
        valid: Tensor | None = None,
    ) -> None:
        """Add a batch of maps, masks and logits."""
        if masks.dim() != 5 or masks.shape[0] != len(self.ratios):
            raise ValueError(
                f"Expected `masks` of shape ({len(self.ratios)}, D, N, H, W), but got {tuple(masks.shape)}"
            )
        corr_sum, corr_sq_sum, count = _sensitivity_n_update(maps, masks, clean_logits, perturbed_logits, target, valid)
        self.corr_sum += corr_sum
        self.corr_sq_sum += corr_sq_sum
        self.count += count

    def compute(self) -> dict[str, Tensor]:
        """``{"mean": (R,), "std": (R,)}`` over the images seen (NaN for a ratio without any)."""
        return _sensitivity_n_compute(self.corr_sum, self.corr_sq_sum, self.count)

    def compute_stats(self) -> dict[str, Tensor]:
        """``{"mean", "se", "n"}``, each ``(R,)``: the mean correlation per ratio, its standard error (``ddof=1``;
        NaN below two images) and the number of images with a defined correlation, synced across processes.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            return _mean_stats(self.corr_sum, self.corr_sq_sum, self.count)
