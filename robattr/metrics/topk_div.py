"""top-k-div metrics as torchmetrics classes (logic in :mod:`.functional.topk_div`)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples
from robattr.metrics.functional._checks import _check_flag, _check_k, _check_pool, _check_radius
from robattr.metrics.functional.topk_div import (
    _lens_precision_div_update,
    _lens_recall_div_update,
    _topk_div_intersection_update,
)


def _check_div_init(k: int, radius: int, pool: int | None) -> None:
    _check_k(k)
    _check_radius(radius)
    _check_pool(pool, k)


class TopKDivIntersection(_MeanOverSamples):
    r"""Mean top-k-div intersection between clean and perturbed attribution maps.

    .. math:: |\mathrm{Div}_{k,r}(a) \cap \mathrm{Div}_{k,r}(a')| / k

    ``Div_{k,r}``: greedy top-k with suppression of the Chebyshev radius-``r`` window around each pick
    (:func:`~robattr.metrics.functional.topk_div_mask`); fewer than ``k`` picks still divide by ``k``. Kamath et al.,
    "Rethinking Robustness of Model Attributions", AAAI 2024.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        k: number of picks, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radius: suppression radius ``>= 0``.
        pool: number of best pixels that are candidates, ``None`` (all) or an integer ``>= k``.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer.
        ValueError: if ``k < 1``, ``radius < 0`` or ``pool < k``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = TopKDivIntersection(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 5.0], [7.0, 6.0, 2.0, 0.0]]]))
        tensor(0.5000)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, k: int, radius: int = 1, pool: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_div_init(k, radius, pool)
        self.k, self.radius, self.pool = k, radius, pool

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the top-k-div intersections of a batch of map pairs."""
        self._accumulate(*_topk_div_intersection_update(clean, perturbed, self.k, self.radius, self.pool, valid))


class LENSRecallDiv(_MeanOverSamples):
    r"""Mean r-LENS-recall@k-div.

    .. math:: |N_r(\mathrm{Div}_{k,r}(a)) \cap \mathrm{Div}_{k,r}(a')| / k

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024 (their Figure 2, bottom row, with
    ``r = 3``). One radius for the selection and the neighbourhood; ``flat_index`` changes only the neighbourhood.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        k: number of picks, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radius: Chebyshev radius of the suppression and of the neighbourhood, ``>= 0``.
        pool: number of best pixels that are candidates, ``None`` (all) or an integer ``>= k``.
        flat_index: use the reference code's flat-index windows for the neighbourhood.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1``, ``radius < 0`` or ``pool < k``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = LENSRecallDiv(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]]))
        tensor(1.)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self, k: int, radius: int = 1, pool: int | None = None, flat_index: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _check_div_init(k, radius, pool)
        _check_flag(flat_index, "flat_index")
        self.k, self.radius, self.pool, self.flat_index = k, radius, pool, flat_index

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the LENS-recall-div of a batch of map pairs."""
        scores = _lens_recall_div_update(clean, perturbed, self.k, self.radius, self.pool, self.flat_index, valid)
        self._accumulate(*scores)


class LENSPrecisionDiv(_MeanOverSamples):
    r"""Mean r-LENS-prec@k-div.

    .. math:: |\mathrm{Div}_{k,r}(a) \cap N_r(\mathrm{Div}_{k,r}(a'))| / k

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. Equal to ``LENSRecallDiv`` with the
    maps swapped.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        k: number of picks, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radius: Chebyshev radius of the suppression and of the neighbourhood, ``>= 0``.
        pool: number of best pixels that are candidates, ``None`` (all) or an integer ``>= k``.
        flat_index: use the reference code's flat-index windows for the neighbourhood.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1``, ``radius < 0`` or ``pool < k``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = LENSPrecisionDiv(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]]))
        tensor(1.)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self, k: int, radius: int = 1, pool: int | None = None, flat_index: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _check_div_init(k, radius, pool)
        _check_flag(flat_index, "flat_index")
        self.k, self.radius, self.pool, self.flat_index = k, radius, pool, flat_index

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the LENS-precision-div of a batch of map pairs."""
        scores = _lens_precision_div_update(clean, perturbed, self.k, self.radius, self.pool, self.flat_index, valid)
        self._accumulate(*scores)
