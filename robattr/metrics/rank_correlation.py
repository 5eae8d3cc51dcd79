"""Kendall tau-b and Spearman rho between attribution maps as torchmetrics classes (logic in
:mod:`.functional.rank_correlation`).
"""

from __future__ import annotations

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples
from robattr.metrics.functional.rank_correlation import _rank_correlation_update


class _RankCorrelationFamily(_MeanOverSamples):
    """One body for Kendall tau-b and Spearman rho, plain or (``radius > 0``) of max-filtered maps: subclasses set
    ``_kind`` (and robattr's LENS variants take a ``radius``).
    """

    higher_is_better = True
    plot_lower_bound = -1.0
    plot_upper_bound = 1.0
    _kind = "kendall"
    radius = 0

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the correlations of a batch of map pairs ``(N, H, W)``, counting the samples marked by ``valid``."""
        self._accumulate(*_rank_correlation_update(clean, perturbed, self._kind, self.radius, valid))


class KendallTau(_RankCorrelationFamily):
    r"""Mean over images of Kendall's tau-b between each clean map and its perturbed map.

    .. math:: \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - n_1)(n_0 - n_2)}}

    over the ``D = H W`` pixels of each pair (``n_c`` / ``n_d`` concordant / discordant pairs, ``n_1`` / ``n_2`` pairs
    tied in one map, ``n_0 = D (D - 1) / 2``); equal to ``scipy.stats.kendalltau`` per image, then averaged. Used by
    Ghorbani et al. (AAAI 2019) and Chen et al. (RAR, NeurIPS 2019). Unlike torchmetrics' ``KendallRankCorrCoef``
    (one correlation over all samples, ``O(D^2)``), this is the per-image mean, ``O(D log D)`` batched. A constant map
    gives NaN, as in scipy.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> metric = KendallTau()
        >>> metric(clean, clean.flip(-1))
        tensor(0.3333)
    """


class SpearmanRho(_RankCorrelationFamily):
    r"""Mean over images of Spearman's rho between each clean map and its perturbed map.

    .. math:: \rho = \mathrm{corr}(\mathrm{rank}(a), \mathrm{rank}(a'))

    over the ``H W`` pixels of each pair, tied values taking their average rank; equal to ``scipy.stats.spearmanr``
    per image, then averaged (torchmetrics' ``SpearmanCorrCoef`` keeps every value in ``cat`` states and computes one
    correlation; this is a running per-image mean). Ghorbani et al. (AAAI 2019); Chen et al. (NeurIPS 2019).

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> metric = SpearmanRho()
        >>> metric(clean, clean.flip(-1))
        tensor(0.6000)
    """

    _kind = "spearman"
