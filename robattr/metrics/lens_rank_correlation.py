"""robattr's own LENS-Kendall / LENS-Spearman variant as torchmetrics classes (logic in
:mod:`.functional.lens_rank_correlation`).
"""

from __future__ import annotations

from typing import Any

from robattr.metrics.functional._checks import _check_radius
from robattr.metrics.rank_correlation import _RankCorrelationFamily


class _LENSRankCorrelation(_RankCorrelationFamily):
    """The LENS rank variants: the rank-correlation family with a ``radius``; subclasses set ``_kind``."""

    def __init__(self, radius: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_radius(radius)
        self.radius = radius


class LENSKendallTau(_LENSRankCorrelation):
    r"""Mean Kendall tau-b between the ``(2r + 1)^2`` max-filtered clean and perturbed maps (**robattr's variant**).

    .. math:: \tau_b(\mathrm{maxpool}_{2r+1}(a), \mathrm{maxpool}_{2r+1}(a'))

    Kamath et al. (AAAI 2024) name a LENS-Kendall but define it nowhere retrieved; this construction is robattr's
    own (see ``docs/metrics.md``) and must be reported as such. ``radius=0`` is :class:`KendallTau`.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        radius: Chebyshev radius of the max filter, ``>= 0``.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``radius`` is not an integer.
        ValueError: if ``radius < 0``.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> metric = LENSKendallTau(radius=1)
        >>> metric(clean, clean.roll(1, dims=2))
        tensor(0.3736)
    """


class LENSSpearmanRho(_LENSRankCorrelation):
    r"""Mean Spearman rho between the ``(2r + 1)^2`` max-filtered clean and perturbed maps (**robattr's variant**).

    .. math:: \rho(\mathrm{maxpool}_{2r+1}(a), \mathrm{maxpool}_{2r+1}(a'))

    Kamath et al. (AAAI 2024) name a LENS-Spearman but define it nowhere retrieved; this construction is robattr's
    own (see ``docs/metrics.md``) and must be reported as such. ``radius=0`` is :class:`SpearmanRho`.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        radius: Chebyshev radius of the max filter, ``>= 0``.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``radius`` is not an integer.
        ValueError: if ``radius < 0``.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> metric = LENSSpearmanRho(radius=1)
        >>> metric(clean, clean.roll(1, dims=2))
        tensor(0.3845)
    """

    _kind = "spearman"
