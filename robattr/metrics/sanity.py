"""The cascading-randomisation sanity check as a torchmetrics class (logic in :mod:`.functional.sanity`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from robattr.checks import check_int
from robattr.metrics.functional._utils import _mean_stats
from robattr.metrics.functional.sanity import _sanity_update


class SanityCheck(Metric):
    r"""Mean Spearman rho, per randomisation stage, between the maps of the trained and of the randomised model.

    .. math:: \bar\rho_s = \frac{1}{N} \sum_i \mathrm{spearman}(M_i, M^{(s)}_i)

    Stage ``s`` is the model with the top ``s + 1`` layers randomised
    (:func:`~robattr.metrics.functional.cascading_randomization`); a method passes the check when ``rho`` falls as
    stages go deeper (Adebayo et al. 2018). States: per-stage sums of rho, of its squares and image counts, summed
    across processes (``compute_stats`` gives the standard errors).

    As input to ``forward`` and ``update`` the metric accepts ``original`` ``(N, H, W)``, ``randomized``
    ``(N, H, W)``, the ``stage`` index and an optional bool ``valid`` ``(N,)``.

    Args:
        num_stages: number of randomisation stages (layers of the cascade).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: for a non-positive ``num_stages``, or at ``update`` a ``stage`` out of range or maps holding NaN
            or infinite values.
        TypeError: if ``num_stages`` or ``stage`` is not an integer.

    Example:
        >>> a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> metric = SanityCheck(num_stages=2)
        >>> metric.update(a, a, stage=0)
        >>> metric.update(a, -a, stage=1)
        >>> metric.compute()
        tensor([ 1., -1.])
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    rho_sum: Tensor
    rho_sq_sum: Tensor
    total: Tensor

    def __init__(self, num_stages: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_int("num_stages", num_stages, 1, what="a positive integer")
        self.num_stages = num_stages
        self.add_state("rho_sum", default=torch.zeros(num_stages, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("rho_sq_sum", default=torch.zeros(num_stages, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros(num_stages, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, original: Tensor, randomized: Tensor, stage: int, valid: Tensor | None = None) -> None:
        """Add a batch of map pairs of one stage."""
        check_int("stage", stage, 0, self.num_stages - 1)
        rho_sum, rho_sq_sum, total = _sanity_update(original, randomized, valid)
        self.rho_sum[stage] += rho_sum.double()
        self.rho_sq_sum[stage] += rho_sq_sum
        self.total[stage] += total

    def compute(self) -> Tensor:
        """Mean rho per stage ``(num_stages,)`` (NaN for a stage without images)."""
        return (self.rho_sum / self.total).to(torch.get_default_dtype())

    def compute_stats(self) -> dict[str, Tensor]:
        """``{"mean", "se", "n"}``, each ``(num_stages,)``: mean rho, its standard error (``ddof=1``; NaN below two
        images) and the number of images per stage, synced across processes.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            return _mean_stats(self.rho_sum, self.rho_sq_sum, self.total)
