"""Top-k intersection and LENS top-k metrics as torchmetrics classes (logic in :mod:`.functional.topk`)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples
from robattr.metrics.functional._checks import _check_flag, _check_k, _check_radius
from robattr.metrics.functional.topk import _topk_family_update


class _TopKFamily(_MeanOverSamples):
    """One body for top-k intersection, LENS-recall and LENS-precision: subclasses set ``_precision`` (and the
    top-k intersection fixes ``radius=0``).
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    _precision = False

    def __init__(self, k: int, radius: int = 1, flat_index: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_k(k)
        _check_radius(radius)
        _check_flag(flat_index, "flat_index")
        self.k, self.radius, self.flat_index = k, radius, flat_index

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the scores of a batch of map pairs ``(N, H, W)``, counting the samples marked by ``valid``."""
        scores = _topk_family_update(clean, perturbed, self.k, self.radius, self.flat_index, self._precision, valid)
        self._accumulate(*scores)


class TopKIntersection(_TopKFamily):
    r"""Mean top-k intersection between clean and perturbed attribution maps.

    .. math:: \mathrm{TopK}(a, a') = |T_k(a) \cap T_k(a')| / k

    Ghorbani, Abid and Zou, "Interpretation of Neural Networks is Fragile", AAAI 2019. This is the clean-vs-attacked
    robustness score, not Quantus' ``TopKIntersection`` (localisation against a ground-truth mask). Ties in
    ``T_k``: value descending, then flat index ascending.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count (e.g. dropping padded DDP duplicates).

    Args:
        k: number of top pixels, a positive integer (at most ``H * W - 1``, checked at ``update``).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k`` is not an integer.
        ValueError: if ``k < 1``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
        >>> metric = TopKIntersection(k=2)
        >>> metric.update(clean, torch.tensor([[[4.0, 1.0], [2.0, 3.0]]]))
        >>> metric.update(clean, clean, valid=torch.tensor([False]))  # not counted
        >>> metric.compute()
        tensor(0.5000)
    """

    def __init__(self, k: int, **kwargs: Any) -> None:
        super().__init__(k, radius=0, **kwargs)


class LENSRecall(_TopKFamily):
    r"""Mean r-LENS-recall@k: fraction of the perturbed top-k lying near the clean top-k.

    .. math:: R_r(a, a') = |N_r(T_k(a)) \cap T_k(a')| / k

    Kamath, Mittal, Deshpande and Balasubramanian, "Rethinking Robustness of Model Attributions", AAAI 2024.
    ``N_r``: Chebyshev radius-``r`` square window clipped at the border (``flat_index=True``: the released code's
    flat-index windows, see :func:`~robattr.metrics.functional.neighbourhood_mask`).

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        k: number of top pixels, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radius: Chebyshev radius ``>= 0`` (1: the 3x3 window, "1-LENS").
        flat_index: use the reference code's flat-index windows.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k`` or ``radius`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1`` or ``radius < 0``.

    Example:
        >>> import torch
        >>> clean = torch.zeros(2, 4, 4)
        >>> clean[:, 1, 1] = 1.0
        >>> metric = LENSRecall(k=1, radius=1)
        >>> metric.update(clean, clean.roll(1, dims=2))
        >>> metric.compute()
        tensor(1.)
    """


class LENSPrecision(_TopKFamily):
    r"""Mean r-LENS-prec@k: fraction of the clean top-k lying near the perturbed top-k.

    .. math:: P_r(a, a') = |T_k(a) \cap N_r(T_k(a'))| / k = R_r(a', a)

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        k: number of top pixels, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radius: Chebyshev radius ``>= 0``.
        flat_index: use the reference code's flat-index windows.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k`` or ``radius`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1`` or ``radius < 0``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 2.0, 1.0]]])
        >>> metric = LENSPrecision(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 1.0]]]))
        tensor(1.)
    """

    _precision = True
