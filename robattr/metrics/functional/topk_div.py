"""top-k-div (diverse top-k) selection and the metrics built on it (Kamath et al., "Rethinking Robustness of Model
Attributions", AAAI 2024).

``Div_{k,r}(a)``: walk the pixels in the top-k order (value descending, then flat index ascending), optionally only
the first ``pool`` of them, and keep a pixel unless it lies within Chebyshev distance ``r`` of a pixel already kept;
stop at ``k`` picks. Any two picks are at Chebyshev distance ``>= r + 1``. When the candidates run out first, fewer
than ``k`` pixels are returned and every score below still divides by ``k``. With ``F_O = Div(clean)`` and
``F_P = Div(perturbed)``:

- top-k-div intersection ``|F_O ∩ F_P| / k``;
- r-LENS-recall@k-div ``|N_r(F_O) ∩ F_P| / k``;
- r-LENS-prec@k-div ``|F_O ∩ N_r(F_P)| / k``;

with the same radius for the suppression and the LENS neighbourhood, as in the released code.
:func:`topk_div_scores` computes all of them for several radii from one selection per map and radius.

**Two selection rules** (``selection=``; ``docs/metrics.md`` says when to use which):

- ``"greedy"`` (default): the greedy walk above, with 2-D windows clipped at the border: the paper's intent.
- ``"released"``: the released LENS code's ``topkDiv``, for comparison with published tables. Its windows are the
  flat-index windows ``p + d_row * W + d_col`` (wrapping across rows, indices outside ``(0, H W)`` dropped), and
  after keeping the first pick it removes the window of the *next* head of the candidate list before keeping the
  head after it: with ``g1, g2, g3, ...`` the greedy sequence under those windows it keeps ``g1, g3, ..., g_{k+1}``
  (``g2`` skipped, its window still suppressed). Pixel 0 can only be ``g1`` or ``g2``: the code filters it out of
  the candidates after the first step, and out of the result; when ``g1`` is pixel 0, that dropped pick takes the
  place of the skip (``g2, ..., g_k`` are kept). Where the released code crashes (an ``IndexError`` once the
  candidates run out before ``k + 1`` greedy picks, e.g. every 28x28 map at ``k = 100``, ``r = 2``), robattr keeps
  the picks that exist and still divides by ``k``. Ties: robattr orders tied values by flat index ascending; the
  released code's order among ties is numpy's unstable ``argsort`` reversed, so on maps with ties the two agree only
  by chance.

**Batched algorithm.** The greedy picks are the lexicographically-first maximal independent set of the candidates
under the "within distance r" conflict graph, in rank order. It is computed for all maps at once in rounds: every
undecided candidate whose rank is the best among the undecided candidates of its window is picked (all its
better-ranked neighbours are already suppressed, so the sequential greedy walk picks it too), and the windows of
the new picks are suppressed. Each round costs ``O(N H W log r)`` in elementwise window-maximum passes; the loop
stops once, in every map, enough picks precede the best-ranked undecided candidate (or none is left). Each round
settles at least the best-ranked undecided candidate, so there are at most ``k`` rounds; in practice the number is
the length of the longest chain of pick dependencies: a handful for noisy or smooth maps, up to about
``(H + W) / (r + 1)`` for maps made of ties (a constant map, walked in flat-index order). Only the first
``min(pool, (k - 1)(2r + 1)^2 + 1)`` candidates can influence the first ``k`` picks, so only they are ranked (one
stable sort of that many values per map).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from robattr.checks import check_int
from robattr.metrics.functional._checks import (
    _check_flag,
    _check_k,
    _check_map_batch,
    _check_maps,
    _check_pool,
    _check_radius,
    _check_reduction,
    _check_selection,
    _check_valid,
)
from robattr.metrics.functional._utils import (
    Reduction,
    _descending_order,
    _in_chunks,
    _order_key32,
    _reduce,
    _sum_valid,
)
from robattr.metrics.functional.masks import (
    _flat_window_max,
    _rankable,
    _window_max,
    neighbourhood_mask,
    topk_mask,
)
from robattr.metrics.functional.topk import _count_score

Selection = Literal["greedy", "released"]
Kind = Literal["intersection", "recall", "precision"]


def _check_div_args(maps: Tensor, k: int, radius: int, pool: int | None, selection: str = "greedy") -> None:
    num_pixels = maps.shape[-2] * maps.shape[-1]
    _check_k(k, num_pixels)  # before `pool`: a `k` larger than the map is blamed on `k`
    _check_radius(radius)
    _check_pool(pool, k, num_pixels)
    _check_selection(selection)


def _candidate_order(maps: Tensor, size: int) -> Tensor:
    """The flat indices ``(N, size)`` of the ``size`` best pixels of each map, best first (value descending, then
    flat index ascending; NaN last).

    On CPU (float32 and lower precisions) one numpy partition and one sort of packed keys
    ``~value key << 32 | index``; elsewhere a top-k mask and a stable sort of the kept values.
    """
    n, h, w = maps.shape
    d = h * w
    flat = _rankable(maps.reshape(n, d))
    key = _order_key32(flat)
    if key is not None:
        keys = (((~key).long() << 32) | torch.arange(d, dtype=torch.int64)).numpy()
        if size < d:
            keys = np.partition(keys, size - 1, axis=1)[:, :size]
        return torch.from_numpy(np.sort(keys, axis=1)) & 0xFFFFFFFF
    if size < d:
        index = topk_mask(flat.view(n, h, w), size, False).view(n, d).nonzero()[:, 1].view(n, size)  # ascending
        return index.gather(1, _descending_order(flat.gather(1, index)))
    return _descending_order(flat)


def _candidate_keys(maps: Tensor, size: int) -> Tensor:
    """Integer keys ``(N, H, W)``: ``size - position`` in the top-k order for the first ``size`` candidates, 0
    elsewhere (NaN pixels rank last).
    """
    n, h, w = maps.shape
    order = _candidate_order(maps, size)
    keys = torch.zeros(n, h * w, dtype=torch.int32, device=maps.device)
    positions = torch.arange(size, 0, -1, dtype=torch.int32, device=maps.device).expand(n, size)
    return keys.scatter_(1, order, positions).view(n, h, w)


def _pool_size(maps: Tensor, picks: int, radius: int, pool: int | None) -> int:
    """How many candidates can decide the first ``picks`` picks: each earlier pick and its window, and the pick."""
    d = maps.shape[-2] * maps.shape[-1]
    return min(d if pool is None else pool, (picks - 1) * (2 * radius + 1) ** 2 + 1)


def _greedy_rounds(keys: Tensor, picks: int, window_max, suppress) -> Tensor:  # noqa: ANN001
    """The greedy picks ``(N, ...)`` of candidates ranked by ``keys`` (0: not a candidate), in rounds, until ``picks``
    picks precede the best undecided candidate of every map; ``window_max(score)`` is the maximum of ``score`` over
    the window of each pixel, ``suppress(new)`` the windows of the new picks.
    """
    n = keys.shape[0]
    undecided = keys > 0
    selected = torch.zeros_like(undecided)
    score = keys * undecided
    while True:
        new = undecided & (score == window_max(score))
        selected |= new
        undecided &= ~(suppress(new) | new)
        score = keys * undecided
        best_open = score.flatten(1).amax(1)  # 0 when no candidate is left
        settled = (selected & (keys > best_open.view(n, *[1] * (keys.dim() - 1)))).flatten(1).sum(1)
        if bool(((settled >= picks) | (best_open == 0)).all()):
            return selected


def _greedy_select(maps: Tensor, k: int, radius: int, pool: int | None) -> Tensor:
    """Greedy diverse picks of every map at once with 2-D windows (see the module docstring); no checks."""
    n = maps.shape[0]
    if radius == 0:  # nothing is suppressed: the top-k (pool >= k)
        return topk_mask(maps, k, False)
    keys = _candidate_keys(maps, _pool_size(maps, k, radius, pool))
    selected = _greedy_rounds(
        keys,
        k,
        lambda score: _window_max(_window_max(score, radius, -1), radius, -2),
        lambda new: neighbourhood_mask(new, radius, False, False),
    )
    kth = (keys * selected).flatten(1).topk(k, dim=1).values[:, -1].view(n, 1, 1)  # 0 if fewer than k picks
    return selected & (keys >= kth)


def _released_select(maps: Tensor, k: int, radius: int, pool: int | None) -> Tensor:
    """The released code's ``topkDiv`` picks of every map at once (see the module docstring); no checks."""
    n, h, w = maps.shape
    size = min(_pool_size(maps, k + 1, radius, pool) + 1, h * w if pool is None else pool)  # + 1: pixel 0 may go
    keys = _candidate_keys(maps, size).view(n, h * w)
    # pixel 0 stays a candidate only as g1 or g2: every candidate ranked above it lies in the window of g1
    first = torch.zeros_like(keys, dtype=torch.bool).scatter_(1, keys.argmax(1, keepdim=True), True)
    near_first = _flat_window_max(first, radius, w)  # g1 and its window (column 0 is not read)
    drop_zero = ((keys > keys[:, :1]) & ~near_first).any(1)
    keys[:, 0] = torch.where(drop_zero, 0, keys[:, 0])

    def suppress(new: Tensor) -> Tensor:
        out = _flat_window_max(new, radius, w).clone()
        out[:, 0] = False  # the released windows never hold pixel 0
        return out

    selected = _greedy_rounds(keys, k + 1, lambda score: _flat_window_max(score, radius, w), suppress)
    ranked = (keys * selected).topk(k + 1, dim=1).values  # the picks' keys, best first; 0 where missing
    zero_first = selected[:, 0] & (keys[:, 0] == ranked[:, 0])
    # g1 = pixel 0: keep g2..g_k (pixel 0 is dropped below); otherwise keep g1, g3, ..., g_{k+1}
    last = torch.where(zero_first, ranked[:, k - 1], ranked[:, k]).view(n, 1)
    skipped = torch.where(zero_first, 0, ranked[:, 1]).view(n, 1)
    keep = selected & (keys >= last) & (keys != skipped)
    keep[:, 0] = False
    return keep.view(n, h, w)


def _select(maps: Tensor, k: int, radius: int, pool: int | None, selection: str) -> Tensor:
    """The top-k-div masks ``(N, H, W)`` under ``selection``; no checks, no chunking."""
    if selection == "released":
        return _released_select(maps, k, radius, pool)
    return _greedy_select(maps, k, radius, pool)


def topk_div_mask(
    maps: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    selection: Selection = "greedy",
    validate_args: bool = True,
) -> Tensor:
    """Boolean mask of the top-k-div picks ``Div_{k,r}(a)`` of each map (see the module docstring).

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. ``radius=0`` gives the top-k mask
    (greedy selection).

    Args:
        maps: attribution maps ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: suppression radius (Chebyshev), ``>= 0``; picks are at distance ``>= radius + 1`` of each other.
        pool: only the ``pool`` best pixels are candidates (the released code used 600 for MNIST, k = 100, and
            6000 for 128x128 / 227x227, k = 1000); ``None`` (default) makes every pixel a candidate.
        selection: ``"greedy"`` (the paper's greedy walk with 2-D windows) or ``"released"`` (the released code's
            ``topkDiv``, to compare with published tables; see the module docstring and ``docs/metrics.md``).
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        A bool tensor ``(N, H, W)`` with at most ``k`` ``True`` entries per map (fewer when candidates run out).

    Raises:
        ValueError: if ``maps`` is not 3-D or holds NaN or infinite values, ``k``, ``radius`` or ``pool`` is out of
            range, or ``selection`` is unknown.
        TypeError: if ``maps`` is not a tensor or ``k``, ``radius`` or ``pool`` not an integer.

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
        _check_div_args(maps, k, radius, pool, selection)
    return _in_chunks(lambda m: _select(m, k, radius, pool, selection), maps)


# ----------------------------------------------------------------------------------------------------------------------
# the scores: one body for top-k-div intersection, LENS-recall-div and LENS-precision-div


def _div_outputs(radii: Sequence[int], topk_div_radius: int) -> list[tuple[str, Kind, int]]:
    """``(name, kind, radius)`` of the outputs of :func:`topk_div_scores`, named as the evaluation job's columns."""
    outputs: list[tuple[str, Kind, int]] = [("topk_div", "intersection", topk_div_radius)]
    for r in radii:
        outputs += [(f"lens_recall_div_r{r}", "recall", r), (f"lens_prec_div_r{r}", "precision", r)]
    return outputs


def _div_score(f_a: Tensor, f_b: Tensor, kind: Kind, radius: int, flat_index: bool, k: int, like: Tensor) -> Tensor:
    """One score per sample from the picks ``f_a`` of the clean and ``f_b`` of the perturbed maps."""
    if kind == "recall":
        f_a = neighbourhood_mask(f_a, radius, flat_index, False)
    elif kind == "precision":
        f_b = neighbourhood_mask(f_b, radius, flat_index, False)
    return _count_score(f_a & f_b, k, like)


def _div_per_sample(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    outputs: Sequence[tuple[str, Kind, int]],
    pool: int | None,
    flat_index: bool,
    selection: str,
    selections: tuple[dict[int, Tensor], dict[int, Tensor]] | None = None,
) -> Tensor:
    """Scores ``(M, N)`` of the ``M`` outputs, each selection computed once per map and radius (or taken from
    ``selections``: the clean and perturbed masks per radius); no checks.
    """
    radii = sorted({r for _, _, r in outputs})

    def scores(a: Tensor, b: Tensor, *given: Tensor) -> Tensor:
        if given:
            picks = {r: (given[i], given[len(radii) + i]) for i, r in enumerate(radii)}
        else:
            picks = {r: _select(torch.cat([a, b]), k, r, pool, selection).chunk(2) for r in radii}
        columns = [_div_score(*picks[r], kind, r, flat_index, k, a) for _, kind, r in outputs]
        return torch.stack(columns, 1)

    extra = [] if selections is None else [sel[r] for sel in selections for r in radii]
    return _in_chunks(scores, clean, perturbed, *extra).T.contiguous()


def _check_selections(
    selections: tuple[dict[int, Tensor], dict[int, Tensor]], radii: Sequence[int], shape: torch.Size
) -> None:
    """Check precomputed top-k-div masks: for each map batch, a dict holding a bool mask of the maps' shape per
    radius.
    """
    for name, masks in zip(("clean_selection", "perturbed_selection"), selections):
        for r in radii:
            mask = masks.get(r) if isinstance(masks, dict) else None
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != shape:
                got = f"{mask.dtype} tensor of shape {tuple(mask.shape)}" if isinstance(mask, Tensor) else repr(mask)
                raise ValueError(
                    f"Expected `{name}` to map radius {r} to a bool tensor of shape {tuple(shape)}, but got {got}"
                )


def _check_div_pair(
    clean: Tensor, perturbed: Tensor, k: int, radii: Sequence[int], pool: int | None, flat: bool, selection: str
) -> None:
    _check_maps(clean, perturbed)
    for r in radii:
        _check_div_args(clean, k, r, pool, selection)
    _check_flag(flat, "flat_index")


def _topk_div_update(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    kind: Kind,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    selection: str = "greedy",
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of one top-k-div score over the valid samples."""
    if validate_args:
        _check_div_pair(clean, perturbed, k, [radius], pool, flat_index, selection)
        _check_valid(valid, clean.shape[0])
    scores = _div_per_sample(clean, perturbed, k, [("", kind, radius)], pool, flat_index, selection)
    return _sum_valid(scores[0], valid)


def _topk_div_family(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    kind: Kind,
    radius: int,
    pool: int | None,
    flat_index: bool,
    selection: str,
    reduction: Reduction,
    validate_args: bool,
) -> Tensor:
    """The public single-score functions' shared body: check, select, score, reduce."""
    if validate_args:
        _check_reduction(reduction)
        _check_div_pair(clean, perturbed, k, [radius], pool, flat_index, selection)
    scores = _div_per_sample(clean, perturbed, k, [("", kind, radius)], pool, flat_index, selection)
    return _reduce(scores[0], reduction)


def _check_radii(radii: object, topk_div_radius: object) -> None:
    if not isinstance(radii, (list, tuple)) or len(set(radii)) != len(radii):
        raise ValueError(f"Expected `radii` to be a list of distinct non-negative integers, but got {radii!r}")
    for r in radii:
        check_int("radii", r, 0, what="a list of distinct non-negative integers")
    if topk_div_radius is not None:
        check_int("topk_div_radius", topk_div_radius, 0, what="None or a non-negative integer")


def topk_div_scores(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radii: Sequence[int] = (1,),
    topk_div_radius: int | None = None,
    pool: int | None = None,
    flat_index: bool = False,
    selection: Selection = "greedy",
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> dict[str, Tensor]:
    """top-k-div intersection and r-LENS-recall / prec @ k-div for several radii, one selection per map and radius.

    Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024. Equal to calling
    :func:`topk_div_intersection` at ``topk_div_radius`` and :func:`lens_recall_div` / :func:`lens_precision_div` at
    each radius of ``radii``, but each top-k-div selection is computed once per map and radius and shared.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radii: distinct radii ``r >= 0`` of the LENS-div scores (selection and neighbourhood).
        topk_div_radius: suppression radius of the top-k-div intersection (default: ``radii[0]``, or 1 when
            ``radii`` is empty).
        pool: number of best pixels that are candidates (``None``: all), an integer in ``[k, H * W]``.
        flat_index: use the released code's flat-index windows for the LENS neighbourhood (not the selection).
        selection: ``"greedy"`` or ``"released"`` (see :func:`topk_div_mask`).
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        ``{"topk_div": ..., "lens_recall_div_r{r}": ..., "lens_prec_div_r{r}": ...}`` for each ``r`` in ``radii``.

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k``, a radius or
            ``pool`` is out of range, ``radii`` repeats a radius, or ``selection`` / ``reduction`` is unknown.
        TypeError: if a map is not a tensor, ``k``, a radius or ``pool`` not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]])
        >>> topk_div_scores(clean, perturbed, k=2, radii=[1])
        {'topk_div': tensor(0.5000), 'lens_recall_div_r1': tensor(1.), 'lens_prec_div_r1': tensor(1.)}
    """
    if validate_args:
        _check_reduction(reduction)
        _check_radii(radii, topk_div_radius)
    div_radius = (radii[0] if radii else 1) if topk_div_radius is None else topk_div_radius
    outputs = _div_outputs(radii, div_radius)
    if validate_args:
        _check_div_pair(clean, perturbed, k, sorted({r for _, _, r in outputs}), pool, flat_index, selection)
    scores = _div_per_sample(clean, perturbed, k, outputs, pool, flat_index, selection)
    return {name: _reduce(s, reduction) for (name, _, _), s in zip(outputs, scores)}


def topk_div_intersection(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    reduction: Reduction = "mean",
    validate_args: bool = True,
    selection: Selection = "greedy",
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
        selection: ``"greedy"`` or ``"released"`` (see :func:`topk_div_mask`).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k``, ``radius`` or
            ``pool`` is out of range, or ``selection`` / ``reduction`` is unknown.
        TypeError: if a map is not a tensor or ``k``, ``radius`` or ``pool`` not an integer.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 5.0], [7.0, 6.0, 2.0, 0.0]]])
        >>> from robattr.metrics.functional.topk import topk_intersection
        >>> topk_div_intersection(clean, perturbed, k=2), topk_intersection(clean, perturbed, k=2)
        (tensor(0.5000), tensor(1.))
    """
    return _topk_div_family(
        clean, perturbed, k, "intersection", radius, pool, False, selection, reduction, validate_args
    )


def lens_recall_div(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
    selection: Selection = "greedy",
) -> Tensor:
    """r-LENS-recall@k-div ``|N_r(Div_{k,r}(clean)) ∩ Div_{k,r}(perturbed)| / k``.

    Kamath et al., AAAI 2024 (the bottom row of their Figure 2, with ``r = 3``). One radius for the selection and
    the neighbourhood. To reproduce the released code, pass ``selection="released", flat_index=True``.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of picks, an integer in ``[1, H * W - 1]``.
        radius: Chebyshev radius of the suppression and of the LENS neighbourhood, ``>= 0``.
        pool: number of best pixels that are candidates (``None``: all), an integer in ``[k, H * W]``.
        flat_index: use the released code's flat-index windows for the LENS neighbourhood (not the selection).
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).
        selection: ``"greedy"`` or ``"released"`` (see :func:`topk_div_mask`).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k``, ``radius`` or
            ``pool`` is out of range, or ``selection`` / ``reduction`` is unknown.
        TypeError: if a map is not a tensor, ``k``, ``radius`` or ``pool`` not an integer or ``flat_index`` not a
            bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]])
        >>> lens_recall_div(clean, perturbed, k=2), topk_div_intersection(clean, perturbed, k=2)
        (tensor(1.), tensor(0.5000))
    """
    return _topk_div_family(
        clean, perturbed, k, "recall", radius, pool, flat_index, selection, reduction, validate_args
    )


def lens_precision_div(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    pool: int | None = None,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
    selection: Selection = "greedy",
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
        selection: ``"greedy"`` or ``"released"`` (see :func:`topk_div_mask`).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k``, ``radius`` or
            ``pool`` is out of range, or ``selection`` / ``reduction`` is unknown.
        TypeError: if a map is not a tensor, ``k``, ``radius`` or ``pool`` not an integer or ``flat_index`` not a
            bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 2.0, 5.0]]])
        >>> perturbed = torch.tensor([[[9.0, 8.0, 1.0, 0.0], [7.0, 6.0, 5.0, 2.0]]])
        >>> lens_precision_div(clean, perturbed, k=2)
        tensor(1.)
    """
    return _topk_div_family(
        clean, perturbed, k, "precision", radius, pool, flat_index, selection, reduction, validate_args
    )
