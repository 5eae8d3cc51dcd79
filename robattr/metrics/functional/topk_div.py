"""top-k-div (diverse top-k) selection and the metrics built on it (Kamath et al., AAAI 2024, spec section 4.4-4.5).

``Div_{k,r}(a)``: walk the pixels in the top-k order (value descending, then flat index ascending), optionally only
the first ``pool`` of them, and keep a pixel unless it lies within Chebyshev distance ``r`` of a pixel already kept;
stop at ``k`` picks. Any two picks are at Chebyshev distance ``>= r + 1``. When the candidates run out first, fewer
than ``k`` pixels are returned and every score below still divides by ``k``. With ``F_O = Div(clean)`` and
``F_P = Div(perturbed)``:

- top-k-div intersection ``|F_O ∩ F_P| / k``;
- r-LENS-recall@k-div ``|N_r(F_O) ∩ F_P| / k``;
- r-LENS-prec@k-div ``|F_O ∩ N_r(F_P)| / k``;

with the same radius for the suppression and the LENS neighbourhood, as in the released code. The released code's
selection skips the second greedy pick and drops pixel 0 (spec section 4.4); robattr implements the clean greedy
algorithm only: ``flat_index`` changes the LENS neighbourhood, never the selection.

**Batched algorithm.** The greedy picks are the lexicographically-first maximal independent set of the candidates
under the "within distance r" conflict graph, in rank order. It is computed for all maps at once in rounds: every
undecided candidate whose rank is the best among the undecided candidates of its ``(2r+1)^2`` window is picked (all
its better-ranked neighbours are already suppressed, so the sequential greedy walk picks it too), and the windows of
the new picks are suppressed. Each round costs ``O(N H W log r)`` in elementwise window-maximum passes; the loop
stops once, in every map, ``k`` picks precede the best-ranked undecided candidate (or none is left). Each round
settles at least the best-ranked undecided candidate, so there are at most ``k`` rounds; in practice the number is
the length of the longest chain of pick dependencies: a handful for noisy or smooth maps, up to about
``(H + W) / (r + 1)`` for maps made of ties (a constant map, walked in flat-index order). Only the first
``min(pool, (k - 1)(2r + 1)^2 + 1)`` candidates can influence the first ``k`` picks, so only they are ranked (one
stable sort of that many values per map).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.metrics.functional._checks import (
    _check_flag,
    _check_k,
    _check_map_batch,
    _check_maps,
    _check_pool,
    _check_radius,
    _check_reduction,
    _check_valid,
)
from robattr.metrics.functional._utils import (
    Reduction,
    _descending_order,
    _in_chunks,
    _reduce,
    _sum_valid,
)
from robattr.metrics.functional.masks import _window_max, neighbourhood_mask, topk_mask
from robattr.metrics.functional.topk import _count_score


def _check_div_args(maps: Tensor, k: int, radius: int, pool: int | None) -> None:
    num_pixels = maps.shape[-2] * maps.shape[-1]
    _check_k(k, num_pixels)
    _check_radius(radius)
    _check_pool(pool, k, num_pixels)


def _candidate_keys(maps: Tensor, k: int, radius: int, pool: int | None) -> Tensor:
    """Integer keys ``(N, H, W)``: ``L - position`` in the top-k order for the first ``L`` candidates, 0 elsewhere.

    Only ``L = min(pool, (k - 1)(2r + 1)^2 + 1)`` candidates can matter: every candidate ranked before the ``k``-th
    greedy pick is one of the first ``k - 1`` picks or in one of their windows.
    """
    n, h, w = maps.shape
    d = h * w
    size = min(d if pool is None else pool, (k - 1) * (2 * radius + 1) ** 2 + 1)
    flat = maps.reshape(n, d)
    if size < d:
        index = topk_mask(maps, size, False).view(n, d).nonzero()[:, 1].view(n, size)  # ascending flat index
        values = flat.gather(1, index)
    else:
        index, values = torch.arange(d, device=maps.device).expand(n, d), flat
    order = _descending_order(values)  # ties: index order (``index`` is ascending)
    keys = torch.zeros(n, d, dtype=torch.int32, device=maps.device)
    positions = torch.arange(size, 0, -1, dtype=torch.int32, device=maps.device).expand(n, size)
    return keys.scatter_(1, index.gather(1, order), positions).view(n, h, w)


def _topk_div_select(maps: Tensor, k: int, radius: int, pool: int | None) -> Tensor:
    """Greedy diverse picks of every map at once (see the module docstring); no checks."""
    n = maps.shape[0]
    if radius == 0:  # nothing is suppressed: the top-k (pool >= k)
        return topk_mask(maps, k, False)
    keys = _candidate_keys(maps, k, radius, pool)
    undecided = keys > 0
    selected = torch.zeros_like(undecided)
    score = keys * undecided
    while True:
        new = undecided & (score == _window_max(_window_max(score, radius, -1), radius, -2))
        selected |= new
        undecided &= ~neighbourhood_mask(new, radius, False, False)
        score = keys * undecided
        best_open = score.flatten(1).amax(1)  # 0 when no candidate is left
        settled = (selected & (keys > best_open.view(n, 1, 1))).flatten(1).sum(1)
        if bool(((settled >= k) | (best_open == 0)).all()):
            break
    kth = (keys * selected).flatten(1).topk(k, dim=1).values[:, -1].view(n, 1, 1)  # 0 if fewer than k picks
    return selected & (keys >= kth)


def topk_div_mask(maps: Tensor, k: int, radius: int = 1, pool: int | None = None, validate_args: bool = True) -> Tensor:
    """Boolean mask of the top-k-div picks ``Div_{k,r}(a)`` of each map (greedy, see the module docstring).

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. ``radius=0`` gives the top-k mask.

    Args:
        maps: attribution maps ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: suppression radius (Chebyshev), ``>= 0``; picks are at distance ``>= radius + 1`` of each other.
        pool: only the ``pool`` best pixels are candidates (the released code used 600 for MNIST, k = 100, and
            6000 for 128x128 / 227x227, k = 1000); ``None`` (default) makes every pixel a candidate.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        A bool tensor ``(N, H, W)`` with at most ``k`` ``True`` entries per map (fewer when candidates run out).

    Raises:
        ValueError: if ``maps`` is not 3-D or ``k``, ``radius`` or ``pool`` is out of range.
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer.

    Example:
        >>> import torch
        >>> a = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> topk_div_mask(a, k=2, radius=1).int()
        tensor([[[1, 0, 0, 0],
                 [0, 0, 0, 1]]], dtype=torch.int32)
        >>> topk_div_mask(a, k=2, radius=1, pool=4).int()  # candidates 9, 8, 7, 6: one pick only
        tensor([[[1, 0, 0, 0],
                 [0, 0, 0, 0]]], dtype=torch.int32)
    """
    if validate_args:
        _check_map_batch(maps)
        _check_div_args(maps, k, radius, pool)
    return _in_chunks(lambda m: _topk_div_select(m, k, radius, pool), maps)


def _check_div_pair(clean: Tensor, perturbed: Tensor, k: int, radius: int, pool: int | None, flat: bool) -> None:
    _check_maps(clean, perturbed)
    _check_div_args(clean, k, radius, pool)
    _check_flag(flat, "flat_index")


def _topk_div_intersection_per_sample(
    clean: Tensor, perturbed: Tensor, k: int, radius: int, pool: int | None
) -> Tensor:
    """``|Div(clean) ∩ Div(perturbed)| / k`` per sample; no checks."""

    def score(a: Tensor, b: Tensor) -> Tensor:
        f_a, f_b = _topk_div_select(torch.cat([a, b]), k, radius, pool).chunk(2)
        return _count_score(f_a & f_b, k, a)

    return _in_chunks(score, clean, perturbed)


def _lens_recall_div_per_sample(
    clean: Tensor, perturbed: Tensor, k: int, radius: int, pool: int | None, flat_index: bool
) -> Tensor:
    """``|N_r(Div(clean)) ∩ Div(perturbed)| / k`` per sample; no checks."""

    def score(a: Tensor, b: Tensor) -> Tensor:
        f_a, f_b = _topk_div_select(torch.cat([a, b]), k, radius, pool).chunk(2)
        return _count_score(neighbourhood_mask(f_a, radius, flat_index, False) & f_b, k, a)

    return _in_chunks(score, clean, perturbed)


def _topk_div_intersection_update(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum of top-k-div intersections over valid samples, number of them)``."""
    if validate_args:
        _check_div_pair(clean, perturbed, k, radius, pool, False)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_topk_div_intersection_per_sample(clean, perturbed, k, radius, pool), valid)


def _lens_recall_div_update(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum of LENS-recall-div over valid samples, number of them)``."""
    if validate_args:
        _check_div_pair(clean, perturbed, k, radius, pool, flat_index)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_lens_recall_div_per_sample(clean, perturbed, k, radius, pool, flat_index), valid)


def _lens_precision_div_update(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """LENS-precision-div is LENS-recall-div with the maps swapped: ``|Div(clean) ∩ N_r(Div(perturbed))| / k``."""
    if validate_args:
        _check_div_pair(clean, perturbed, k, radius, pool, flat_index)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_lens_recall_div_per_sample(perturbed, clean, k, radius, pool, flat_index), valid)


def topk_div_intersection(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> Tensor:
    """top-k-div intersection ``|Div_{k,r}(clean) ∩ Div_{k,r}(perturbed)| / k``.

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. Symmetric. Fewer than ``k`` picks still
    divide by ``k``.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: suppression radius of the diverse selection, ``>= 0`` (``0`` gives the top-k intersection).
        pool: number of best pixels that are candidates (``None``: all), an integer in ``[k, H * W]``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, ``k``, ``radius`` or ``pool`` is out of range or
            ``reduction`` unknown.
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 5.0], [7.0, 6.0, 2.0, 0.0]]])
        >>> from robattr.metrics.functional.topk import topk_intersection
        >>> topk_div_intersection(clean, perturbed, k=2), topk_intersection(clean, perturbed, k=2)
        (tensor(0.5000), tensor(1.))
    """
    if validate_args:
        _check_reduction(reduction)
        _check_div_pair(clean, perturbed, k, radius, pool, False)
    return _reduce(_topk_div_intersection_per_sample(clean, perturbed, k, radius, pool), reduction)


def lens_recall_div(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> Tensor:
    """r-LENS-recall@k-div ``|N_r(Div_{k,r}(clean)) ∩ Div_{k,r}(perturbed)| / k``.

    Kamath et al., AAAI 2024 (the bottom row of their Figure 2, with ``r = 3``). One radius for the selection and
    the neighbourhood.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: Chebyshev radius of the suppression and of the LENS neighbourhood, ``>= 0``.
        pool: number of best pixels that are candidates (``None``: all), an integer in ``[k, H * W]``.
        flat_index: use the released code's flat-index windows for the LENS neighbourhood (not the selection).
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, ``k``, ``radius`` or ``pool`` is out of range or
            ``reduction`` unknown.
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]])
        >>> lens_recall_div(clean, perturbed, k=2), topk_div_intersection(clean, perturbed, k=2)
        (tensor(1.), tensor(0.5000))
    """
    if validate_args:
        _check_reduction(reduction)
        _check_div_pair(clean, perturbed, k, radius, pool, flat_index)
    return _reduce(_lens_recall_div_per_sample(clean, perturbed, k, radius, pool, flat_index), reduction)


def lens_precision_div(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> Tensor:
    """r-LENS-prec@k-div ``|Div_{k,r}(clean) ∩ N_r(Div_{k,r}(perturbed))| / k``.

    Kamath et al., AAAI 2024. ``lens_precision_div(a, b) == lens_recall_div(b, a)``.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: Chebyshev radius of the suppression and of the LENS neighbourhood, ``>= 0``.
        pool: number of best pixels that are candidates (``None``: all), an integer in ``[k, H * W]``.
        flat_index: use the released code's flat-index windows for the LENS neighbourhood (not the selection).
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, ``k``, ``radius`` or ``pool`` is out of range or
            ``reduction`` unknown.
        TypeError: if ``k``, ``radius`` or ``pool`` is not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]])
        >>> lens_precision_div(clean, perturbed, k=2)
        tensor(1.)
    """
    if validate_args:
        _check_reduction(reduction)
        _check_div_pair(clean, perturbed, k, radius, pool, flat_index)
    return _reduce(_lens_recall_div_per_sample(perturbed, clean, k, radius, pool, flat_index), reduction)
