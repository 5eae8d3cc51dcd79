"""top-k-div metrics as torchmetrics classes (logic in :mod:`.functional.topk_div`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples, _MeanOverSamplesMulti
from robattr.metrics.functional._checks import (
    _check_flag,
    _check_k,
    _check_pool,
    _check_radius,
    _check_selection,
    _check_valid,
)
from robattr.metrics.functional.topk_div import (
    Kind,
    Selection,
    _check_div_pair,
    _check_radii,
    _check_selections,
    _div_outputs,
    _div_per_sample,
    _topk_div_update,
    topk_div_mask,
)


def _check_div_init(k: int, radius: int, pool: int | None, flat_index: bool, selection: str) -> None:
    _check_k(k)
    _check_radius(radius)
    _check_pool(pool, k)
    _check_flag(flat_index, "flat_index")
    _check_selection(selection)


class _TopKDivFamily(_MeanOverSamples):
    """One body for top-k-div intersection, LENS-recall-div and LENS-precision-div: subclasses set ``_kind``."""

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    _kind: Kind = "intersection"

    def __init__(
        self,
        k: int,
        radius: int = 1,
        pool: int | None = None,
        flat_index: bool = False,
        selection: Selection = "greedy",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_div_init(k, radius, pool, flat_index, selection)
        self.k, self.radius, self.pool, self.flat_index, self.selection = k, radius, pool, flat_index, selection

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the scores of a batch of map pairs ``(N, H, W)``, counting the samples marked by ``valid``."""
        args = (self.k, self._kind, self.radius, self.pool, self.flat_index, self.selection, valid)
        self._accumulate(*_topk_div_update(clean, perturbed, *args))


class TopKDivIntersection(_TopKDivFamily):
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
        selection: ``"greedy"`` (the paper's greedy walk, default) or ``"released"`` (the released code's
            ``topkDiv``, to compare with published tables; see :func:`~robattr.metrics.functional.topk_div_mask`).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer.
        ValueError: if ``k < 1``, ``radius < 0``, ``pool < k`` or ``selection`` is unknown; at ``update``, for maps
            of other shapes, not 3-D or holding NaN or infinite values, or ``k`` not below ``H * W``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = TopKDivIntersection(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 5.0], [7.0, 6.0, 2.0, 0.0]]]))
        tensor(0.5000)
    """

    def __init__(
        self, k: int, radius: int = 1, pool: int | None = None, selection: Selection = "greedy", **kwargs: Any
    ) -> None:
        super().__init__(k, radius, pool, False, selection, **kwargs)


class LENSRecallDiv(_TopKDivFamily):
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
        selection: ``"greedy"`` (the paper's greedy walk, default) or ``"released"`` (the released code's
            ``topkDiv``, to compare with published tables; see :func:`~robattr.metrics.functional.topk_div_mask`).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1``, ``radius < 0``, ``pool < k`` or ``selection`` is unknown; at ``update``, for maps
            of other shapes, not 3-D or holding NaN or infinite values, or ``k`` not below ``H * W``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = LENSRecallDiv(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]]))
        tensor(1.)
    """

    _kind = "recall"


class LENSPrecisionDiv(_TopKDivFamily):
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
        selection: ``"greedy"`` (the paper's greedy walk, default) or ``"released"`` (the released code's
            ``topkDiv``, to compare with published tables; see :func:`~robattr.metrics.functional.topk_div_mask`).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1``, ``radius < 0``, ``pool < k`` or ``selection`` is unknown; at ``update``, for maps
            of other shapes, not 3-D or holding NaN or infinite values, or ``k`` not below ``H * W``.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = LENSPrecisionDiv(k=2, radius=1)
        >>> metric(clean, torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]]))
        tensor(1.)
    """

    _kind = "precision"


class TopKDivScores(_MeanOverSamplesMulti):
    r"""top-k-div intersection and r-LENS-recall / prec @ k-div for several radii, from one selection per map and
    radius: the multi-output form of :class:`TopKDivIntersection`, :class:`LENSRecallDiv` and
    :class:`LENSPrecisionDiv`.

    .. math:: |F_O \cap F_P| / k, \quad |N_r(F_O) \cap F_P| / k, \quad |F_O \cap N_r(F_P)| / k,
        \qquad F = \mathrm{Div}_{k,r}

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. Each top-k-div selection is the
    expensive part (a greedy walk per map); the separate classes would compute it once per metric, this one once per
    map and radius, for every output. ``compute()`` returns ``{"topk_div", "lens_recall_div_r{r}",
    "lens_prec_div_r{r}"}`` (``r`` in ``radii``), so inside a :class:`~torchmetrics.MetricCollection` the keys are
    exactly those names; ``compute_stats()`` gives ``{name: {"mean", "se", "n"}}``.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``,
    an optional bool ``valid`` ``(N,)`` marking the samples to count, and optionally the selections already made
    (``clean_selection`` / ``perturbed_selection``: ``{radius: bool mask (N, H, W)}`` from :meth:`select`), so that
    several metrics fed with the same maps (e.g. with failed attacks counted and excluded) select only once.

    Args:
        k: number of picks, a positive integer (at most ``H * W - 1``, checked at ``update``).
        radii: distinct radii ``r >= 0`` of the LENS-div scores (one radius for the selection and the neighbourhood).
        topk_div_radius: suppression radius of the top-k-div intersection (default: ``radii[0]``, or 1 when
            ``radii`` is empty).
        pool: number of best pixels that are candidates, ``None`` (all) or an integer ``>= k``.
        flat_index: use the reference code's flat-index windows for the LENS neighbourhood.
        selection: ``"greedy"`` (the paper's greedy walk, default) or ``"released"`` (the released code's
            ``topkDiv``, to compare with published tables; see :func:`~robattr.metrics.functional.topk_div_mask`).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        TypeError: if ``k``, a radius or ``pool`` is not an integer or ``flat_index`` not a bool.
        ValueError: if ``k < 1``, a radius is negative, ``radii`` repeats one, ``pool < k`` or ``selection`` is
            unknown; at ``update``, for maps of other shapes, not 3-D or holding NaN or infinite values, ``k`` not
            below ``H * W``, or selections of another shape.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> metric = TopKDivScores(k=2, radii=[1])
        >>> metric.update(clean, torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]]))
        >>> metric.compute()
        {'topk_div': tensor(0.5000), 'lens_recall_div_r1': tensor(1.), 'lens_prec_div_r1': tensor(1.)}
        >>> metric.compute_stats()["topk_div"]["n"]
        tensor(1)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self,
        k: int,
        radii: Sequence[int] = (1,),
        topk_div_radius: int | None = None,
        pool: int | None = None,
        flat_index: bool = False,
        selection: Selection = "greedy",
        **kwargs: Any,
    ) -> None:
        _check_radii(radii, topk_div_radius)
        div_radius = (radii[0] if radii else 1) if topk_div_radius is None else topk_div_radius
        outputs = _div_outputs(radii, div_radius)
        super().__init__([name for name, _, _ in outputs], **kwargs)
        _check_div_init(k, div_radius, pool, flat_index, selection)
        self.k, self.radii, self.topk_div_radius, self.pool = k, tuple(radii), div_radius, pool
        self.flat_index, self.selection, self._outputs = flat_index, selection, outputs
        self.selection_radii = tuple(sorted({r for _, _, r in outputs}))

    def select(self, maps: Tensor) -> dict[int, Tensor]:
        """The top-k-div masks ``{radius: (N, H, W) bool}`` of ``maps`` under this metric's ``k``, ``pool`` and
        ``selection``, for every radius it needs: pass them to :meth:`update` as ``clean_selection`` /
        ``perturbed_selection``.
        """
        return {r: topk_div_mask(maps, self.k, r, self.pool, self.selection) for r in self.selection_radii}

    def update(
        self,
        clean: Tensor,
        perturbed: Tensor,
        valid: Tensor | None = None,
        clean_selection: dict[int, Tensor] | None = None,
        perturbed_selection: dict[int, Tensor] | None = None,
    ) -> None:
        """Add the scores of a batch of map pairs, selecting once per map and radius (or using the given selections)."""
        _check_div_pair(clean, perturbed, self.k, self.selection_radii, self.pool, self.flat_index, self.selection)
        _check_valid(valid, clean.shape[0])
        given = None
        if clean_selection is not None or perturbed_selection is not None:
            given = (clean_selection, perturbed_selection)
            _check_selections(given, self.selection_radii, clean.shape)  # type: ignore[arg-type]
        args = (self.k, self._outputs, self.pool, self.flat_index, self.selection, given)
        scores = _div_per_sample(clean, perturbed, *args)
        self._accumulate_outputs(dict(zip(self.names, scores)), valid)
