"""Sanity check by cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018): the Spearman rank
correlation between the maps of the trained model and those of each randomisation stage
(:func:`robattr.models.cascading_randomization` builds the stages; the caller computes their maps). The
correlation is the batched Spearman rho of :mod:`robattr.metrics.functional.rank_correlation` (average ranks for
ties, as ``scipy.stats.spearmanr``).
"""

from __future__ import annotations

from torch import Tensor

from robattr.metrics.functional._checks import _check_maps, _check_reduction, _check_valid
from robattr.metrics.functional._utils import Reduction, _reduce, _sum_valid
from robattr.metrics.functional.rank_correlation import _spearman_per_sample


def _sanity_update(original: Tensor, randomized: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(sum of Spearman rho, sum of its squares, number of valid images)`` of one stage."""
    _check_maps(original, randomized)
    _check_valid(valid, original.shape[0])
    return _sum_valid(_spearman_per_sample(original.detach(), randomized.detach()), valid)


def sanity_rank_correlation(original: Tensor, randomized: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Spearman rho between the maps of the trained and of a randomised model, per image or averaged.

    Args:
        original: maps of the trained model ``(N, H, W)``.
        randomized: maps of a randomised stage ``(N, H, W)``.
        reduction: ``mean`` or ``none``.

    Raises:
        ValueError: for maps of different or non-3-D shapes, or an unknown ``reduction``.

    Example:
        >>> import torch
        >>> a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
        >>> sanity_rank_correlation(a, -a)
        tensor(-1.)
    """
    _check_reduction(reduction)
    _check_maps(original, randomized)
    return _reduce(_spearman_per_sample(original.detach(), randomized.detach()), reduction)
