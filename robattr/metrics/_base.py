"""Shared bases of the metrics that average per-sample scores, and :func:`metric_stats` (the uncertainty of a score).

Every per-sample mean keeps three states summed across processes (``dist_reduce_fx="sum"``): ``score_sum``, the
float64 ``score_sq_sum`` and the integer ``total``. They give the mean, its standard error and the count, and N
processes give the same three numbers as one process on all the samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from robattr.metrics.functional._utils import _mean_stats, _sum_valid


class _MeanOverSamples(Metric):
    """Mean of a per-sample score over every valid sample seen, with its standard error.

    States ``score_sum`` (float64), ``score_sq_sum`` (float64) and ``total``, all summed across processes. Subclasses
    pass the ``(sum, sum of squares, count)`` of a batch (from their functional ``_x_update`` helper) to
    :meth:`_accumulate`, or the per-sample scores to :meth:`_accumulate_scores`.
    """

    is_differentiable = False
    full_state_update = False
    score_sum: Tensor
    score_sq_sum: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("score_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("score_sq_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate(self, score_sum: Tensor, score_sq_sum: Tensor, total: Tensor) -> None:
        self.score_sum += score_sum
        self.score_sq_sum += score_sq_sum
        self.total += total

    def _accumulate_scores(self, scores: Tensor, valid: Tensor | None = None) -> None:
        self._accumulate(*_sum_valid(scores, valid))

    def compute(self) -> Tensor:
        """Mean score over the valid samples (NaN before any valid sample)."""
        return (self.score_sum / self.total).to(torch.get_default_dtype())

    def compute_stats(self) -> dict[str, Tensor]:
        """``{"mean", "se", "n"}``: the mean, its standard error ``s / sqrt(n)`` (``ddof=1``; NaN when ``n < 2``)
        and the number of valid samples, synced across processes like :meth:`compute`.
        """
        return self._sync_and_call(lambda: _mean_stats(self.score_sum, self.score_sq_sum, self.total))

    def _sync_and_call(self, fn: Any) -> Any:
        """Run ``fn`` on the states synced across processes (as ``compute`` does), then restore the local states."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute, should_unsync=True):
            return fn()


class _MeanOverSamplesMulti(_MeanOverSamples):
    """Several per-sample means over the same samples, one per output name: a multi-output metric.

    States ``score_sum`` / ``score_sq_sum`` of shape ``(len(names),)`` (float64) and one ``total``. ``compute``
    returns ``{name: mean}`` and ``compute_stats`` ``{name: {"mean", "se", "n"}}``.
    """

    def __init__(self, names: Sequence[str], **kwargs: Any) -> None:
        Metric.__init__(self, **kwargs)
        self.names = tuple(names)
        m = len(self.names)
        self.add_state("score_sum", default=torch.zeros(m, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("score_sq_sum", default=torch.zeros(m, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate_outputs(self, scores: dict[str, Tensor], valid: Tensor | None = None) -> None:
        """Add per-sample ``scores`` ``{name: (N,)}`` (one entry per output name) of the samples kept by ``valid``."""
        sums, sq_sums, total = zip(*(_sum_valid(scores[name], valid) for name in self.names))
        self._accumulate(torch.stack(sums), torch.stack(sq_sums), total[0])

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        """``{name: mean score}`` over the valid samples (NaN before any valid sample)."""
        means = (self.score_sum / self.total).to(torch.get_default_dtype())
        return dict(zip(self.names, means.unbind()))

    def compute_stats(self) -> dict[str, dict[str, Tensor]]:  # type: ignore[override]
        """``{name: {"mean", "se", "n"}}`` per output, as :meth:`_MeanOverSamples.compute_stats`."""
        stats = self._sync_and_call(lambda: _mean_stats(self.score_sum, self.score_sq_sum, self.total))
        return {
            name: {"mean": stats["mean"][i], "se": stats["se"][i], "n": stats["n"].clone()}
            for i, name in enumerate(self.names)
        }


def metric_stats(metric: Metric | MetricCollection) -> dict[str, dict[str, Tensor]]:
    """``{name: {"mean", "se", "n"}}`` of a robattr metric or of a :class:`~torchmetrics.MetricCollection` of them.

    A single-output metric appears under its collection key (or ``"value"`` alone); a multi-output metric such as
    :class:`~robattr.metrics.TopKDivScores` contributes one entry per output name, so the names match the keys of
    the collection's ``compute()``.

    Raises:
        TypeError: if a metric has no ``compute_stats``.

    Example:
        >>> import torch
        >>> from robattr.metrics import MeanScore
        >>> metric = MeanScore()
        >>> metric.update(torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> {k: round(float(v), 4) for k, v in metric_stats(metric)["value"].items()}
        {'mean': 0.75, 'se': 0.25, 'n': 4.0}
    """
    items = metric.items(keep_base=True) if isinstance(metric, MetricCollection) else [("value", metric)]
    out: dict[str, dict[str, Tensor]] = {}
    for key, m in items:
        if not hasattr(m, "compute_stats"):
            raise TypeError(f"Expected `metric` to have a compute_stats method, but got {type(m).__name__}")
        stats = m.compute_stats()
        if all(isinstance(v, dict) for v in stats.values()):
            out.update(stats)
        else:
            out[key] = stats
    return out
