"""Kendall's tau-b and Spearman's rho between clean and perturbed attribution maps, batched per image.

Each pair of maps ``(H, W)`` is flattened to ``D = H W`` pixels and rank-correlated, as the RAR / LENS / Ghorbani
evaluation code does with ``scipy.stats.kendalltau`` (tau-b, corrected for ties) and ``scipy.stats.spearmanr``
(tied values get their average rank). Ties matter: an MNIST IG map with a zero baseline is zero on most of the
background.

**Cost.** Both run on all maps of a batch at once with no Python loop over images or pixels:

- Spearman: one sort per map, ``O(D log D)``;
- Kendall tau-b: three sorts (``x``, ``y``, then ``(x, y)`` lexicographically) and a count of the discordant pairs
  as the inversions of the ``y`` ranks in ``(x, y)`` order. The inversions are counted by a binary radix partition:
  over the ``ceil(log2 D)`` bits of the rank, from the highest, each pass counts the pairs that first differ in that
  bit and are out of order, with cumulative sums, then stably partitions by that bit. ``O(D log D)`` time and
  ``O(D)`` memory per map (torchmetrics' ``KendallRankCorrCoef`` is ``O(D^2)``).

A constant map has no defined correlation: the result is NaN, as in scipy. NaN or infinite maps are a
``ValueError`` (with ``validate_args``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.metrics.functional._checks import _check_maps, _check_radius, _check_reduction, _check_valid
from robattr.metrics.functional._utils import (
    Reduction,
    _in_chunks,
    _order_key32,
    _reduce,
    _score_dtype,
    _sort_rows,
    _sort_values,
    _sum_valid,
)
from robattr.metrics.functional.masks import _max_filter


def _group_starts(sorted_values: Tensor) -> Tensor:
    """For each position of rows sorted ascending, the first position holding the same value, ``(N, D)`` int64."""
    index = torch.arange(sorted_values.shape[1], device=sorted_values.device).expand_as(sorted_values)
    new = torch.ones_like(sorted_values, dtype=torch.bool)
    new[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    return torch.where(new, index, 0).cummax(1).values


def _tied_pairs(sorted_values: Tensor, starts: Tensor | None = None) -> Tensor:
    """Number of pairs of equal entries in each row sorted ascending, ``(N,)``."""
    starts = _group_starts(sorted_values) if starts is None else starts
    return (torch.arange(sorted_values.shape[1], device=sorted_values.device) - starts).sum(1)


def _min_ranks(values: Tensor) -> tuple[Tensor, Tensor]:
    """Ranks ``(N, D)`` (tied values share the smallest rank) and the number of tied pairs ``(N,)``."""
    sorted_values, order = _sort_rows(values)
    starts = _group_starts(sorted_values)
    return torch.empty_like(order).scatter_(1, order, starts), _tied_pairs(sorted_values, starts)


def _inversions(ranks: Tensor, bits: int) -> Tensor:
    """Number of pairs ``i < j`` with ``ranks[i] > ranks[j]`` in each row of non-negative integers below ``2**bits``.

    Binary radix partition from the highest bit. Before the pass over bit ``b`` each row is stably sorted by its
    prefix ``rank >> (b + 1)``; inside a prefix group, a pair is inverted at bit ``b`` when its first element has the
    bit set and its second has not, which a cumulative count of the set bits gives. The pass then moves every element
    to its place in the stable order by ``rank >> b``: ``ones_before + zeros up to its group`` for a set bit,
    ``zeros_before + ones before its group`` otherwise (the counts per group come from one histogram of the ranks).
    Each pass is ``O(D)``; int32 inside (``D < 2**31``).
    """
    n, d = ranks.shape
    device = ranks.device
    index = torch.arange(d, dtype=torch.int32, device=device).expand(n, d)
    seq = ranks.to(torch.int32)
    # counts per key ``rank >> b`` do not depend on the order: one histogram, summed pairwise level by level
    counts = [torch.zeros(n, 1 << bits, dtype=torch.int32, device=device)]
    counts[0].scatter_add_(1, ranks.long(), torch.ones(n, d, dtype=torch.int32, device=device))
    for _ in range(bits - 1):
        counts.append(counts[-1].view(n, counts[-1].shape[1] // 2, 2).sum(2, dtype=torch.int32))
    pairs = torch.zeros_like(seq)  # per element, summed over the passes: set bits before it in its group
    total = torch.zeros(n, dtype=torch.int64, device=device)
    for b in range(bits - 1, -1, -1):
        key = seq >> b
        bit = key & 1
        zeros_in, ones_in = counts[b].view(n, counts[b].shape[1] // 2, 2).unbind(2)
        ones_ahead = ones_in.cumsum(1, dtype=torch.int32) - ones_in  # set bits in the groups before
        ones_before = bit.cumsum(1, dtype=torch.int32) - bit  # set bits before, over the whole row
        pairs += ones_before * (1 - bit)
        total -= (ones_ahead.long() * zeros_in).sum(1)  # pairs whose set bit lies in an earlier group
        if b == 0:
            break
        # per key 2g + bit: where the elements of that key start, minus the running count added below
        offsets = torch.stack([ones_ahead, zeros_in.cumsum(1, dtype=torch.int32)], 2).flatten(1)
        running = index - ones_before + bit * (2 * ones_before - index)
        position = (offsets.gather(1, key.long()) + running).long()
        seq = torch.empty_like(seq).scatter_(1, position, seq)
    return total + pairs.sum(1)


def _kendall_tau_per_sample(clean: Tensor, perturbed: Tensor) -> Tensor:
    """Kendall's tau-b of each pair of maps, ``(N,)``; no checks."""

    def tau(a: Tensor, b: Tensor) -> Tensor:
        n, d = a.shape[0], a.shape[1] * a.shape[2]
        rank_y, ties_y = _min_ranks(b.reshape(n, d))
        key_x = _order_key32(a.reshape(n, d))
        if key_x is not None:  # one packed sort by (x, rank of y): no separate ranking of x
            joint = _sort_values((key_x.long() << 32) | rank_y)
            ties_x, y_in_order = _tied_pairs(joint >> 32), joint & 0xFFFFFFFF
        else:
            rank_x, ties_x = _min_ranks(a.reshape(n, d))
            joint = _sort_values(rank_x * d + rank_y)  # lexicographic (x, y) order
            y_in_order = joint % d
        ties_xy = _tied_pairs(joint)
        discordant = _inversions(y_in_order, max(1, (d - 1).bit_length()))
        pairs = d * (d - 1) // 2
        numerator = (pairs - ties_x - ties_y + ties_xy - 2 * discordant).double()
        denominator = ((pairs - ties_x).double() * (pairs - ties_y).double()).sqrt()
        return (numerator / denominator).to(_score_dtype(a))

    return _in_chunks(tau, clean, perturbed)


def _average_ranks(values: Tensor) -> Tensor:
    """Ranks ``(N, D)`` in float64 where tied values get the average of their ranks (``scipy.stats.rankdata``)."""
    sorted_values, order = _sort_rows(values)
    d = values.shape[1]
    index = torch.arange(d, device=values.device).expand_as(order)
    last = torch.ones_like(sorted_values, dtype=torch.bool)
    last[:, :-1] = sorted_values[:, :-1] != sorted_values[:, 1:]
    ends = torch.where(last, index, d).flip(1).cummin(1).values.flip(1)
    average = (_group_starts(sorted_values) + ends).double() / 2
    return torch.empty_like(average).scatter_(1, order, average)


def _spearman_per_sample(clean: Tensor, perturbed: Tensor) -> Tensor:
    """Spearman's rho of each pair of maps (Pearson correlation of the average ranks), ``(N,)``; no checks."""

    def rho(a: Tensor, b: Tensor) -> Tensor:
        n = a.shape[0]
        x = _average_ranks(a.reshape(n, a.shape[1] * a.shape[2]))
        y = _average_ranks(b.reshape(n, b.shape[1] * b.shape[2]))
        x = x - x.mean(1, keepdim=True)
        y = y - y.mean(1, keepdim=True)
        return ((x * y).sum(1) / (x.square().sum(1) * y.square().sum(1)).sqrt()).to(_score_dtype(a))

    return _in_chunks(rho, clean, perturbed)


_PER_SAMPLE = {"kendall": _kendall_tau_per_sample, "spearman": _spearman_per_sample}


def _rank_correlation_per_sample(clean: Tensor, perturbed: Tensor, kind: str, radius: int = 0) -> Tensor:
    """Kendall tau-b (``kind="kendall"``) or Spearman rho of each pair, of the ``(2r + 1)^2`` max-filtered maps when
    ``radius > 0`` (robattr's LENS variant, :mod:`.lens_rank_correlation`); no checks.
    """
    if radius:
        clean, perturbed = _max_filter(clean, radius), _max_filter(perturbed, radius)
    return _PER_SAMPLE[kind](clean, perturbed)


def _check_rank_args(clean: Tensor, perturbed: Tensor, radius: int) -> None:
    _check_maps(clean, perturbed)
    _check_radius(radius)


def _rank_correlation_update(
    clean: Tensor,
    perturbed: Tensor,
    kind: str,
    radius: int = 0,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of the correlations of the valid samples.

    One body for the family: Kendall tau-b and Spearman rho, plain (``radius=0``) or of max-filtered maps.
    """
    if validate_args:
        _check_rank_args(clean, perturbed, radius)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_rank_correlation_per_sample(clean, perturbed, kind, radius), valid)


def _rank_correlation(
    clean: Tensor, perturbed: Tensor, kind: str, radius: int, reduction: Reduction, validate_args: bool
) -> Tensor:
    """The public functions' shared body: check, correlate, reduce."""
    if validate_args:
        _check_reduction(reduction)
        _check_rank_args(clean, perturbed, radius)
    return _reduce(_rank_correlation_per_sample(clean, perturbed, kind, radius), reduction)


def kendall_tau(clean: Tensor, perturbed: Tensor, reduction: Reduction = "mean", validate_args: bool = True) -> Tensor:
    """Kendall's tau-b between each clean map and its perturbed map, over all ``H W`` pixels.

    ``tau_b = (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2))`` with ``n_c`` / ``n_d`` the concordant / discordant pixel
    pairs, ``n_0 = D (D - 1) / 2`` and ``n_1``, ``n_2`` the pairs tied in the clean and in the perturbed map; equal
    to ``scipy.stats.kendalltau`` (its default variant). Used as an attribution-robustness score by Ghorbani et al.
    (AAAI 2019) and Chen et al. (RAR, NeurIPS 2019). ``O(D log D)`` per map, batched (see the module docstring).

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, or ``reduction`` is
            unknown.
        TypeError: if a map is not a tensor.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> kendall_tau(clean, clean), kendall_tau(clean, clean.flip(-1))
        (tensor(1.), tensor(0.3333))
        >>> kendall_tau(clean, torch.tensor([[[0.0, 0.0], [0.0, 1.0]]]))  # ties in one map: tau-b
        tensor(0.7071)
    """
    return _rank_correlation(clean, perturbed, "kendall", 0, reduction, validate_args)


def spearman(clean: Tensor, perturbed: Tensor, reduction: Reduction = "mean", validate_args: bool = True) -> Tensor:
    """Spearman's rho between each clean map and its perturbed map, over all ``H W`` pixels.

    The Pearson correlation of the pixel ranks, tied values taking the average of their ranks; equal to
    ``scipy.stats.spearmanr``. Used by Ghorbani et al. (AAAI 2019) and Chen et al. (RAR, NeurIPS 2019).
    ``O(D log D)`` per map, batched.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, or ``reduction`` is
            unknown.
        TypeError: if a map is not a tensor.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> spearman(clean, clean.flip(-1), reduction="none")
        tensor([0.6000])
    """
    return _rank_correlation(clean, perturbed, "spearman", 0, reduction, validate_args)
