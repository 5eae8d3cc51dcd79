"""Helpers of :class:`~robattr.metrics.MeanScore`: the mean of per-sample values computed elsewhere (private)."""

from __future__ import annotations

from torch import Tensor

from robattr.checks import check_finite, check_tensor
from robattr.metrics.functional._checks import _check_valid
from robattr.metrics.functional._utils import _score_dtype, _sum_valid


def _mean_score_update(
    values: Tensor, valid: Tensor | None = None, validate_args: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(sum, sum of squares, count)`` of the valid entries of per-sample ``values`` ``(N,)``.

    Bool values (correct / attack succeeded) count as 0 and 1.
    """
    if validate_args:
        check_tensor("values", values, 1, "(N,)")
        check_finite("values", values)
        _check_valid(valid, values.shape[0])
    return _sum_valid(values.to(_score_dtype(values)), valid)
