"""Centre-of-mass dislocation between clean and perturbed attribution maps (Ghorbani et al., AAAI 2019).

``C(a) = sum_p a[p] * (row_p, col_p) / sum_p a[p]``, the attribution-weighted mean pixel position (0-based row and
column); for a map normalised to sum ``H W`` this is the paper's ``C(a) = (1/D) sum_p a[p] (row_p, col_p)``. The
shift is ``|| trunc(C(clean)) - trunc(C(perturbed)) ||_2``: as in the reference code, both centres are truncated to
integers before the Euclidean distance. Maps must be non-negative (e.g. ``sum_c |A|``): a signed map can sum to
almost zero, and its "centre" then lies millions of pixels outside the image, so negative values are a
``ValueError`` (with ``validate_args``; pass ``maps.abs()`` or ``maps.clamp_min(0)`` to choose a meaning). A map
summing to zero has the image centre ``((H - 1) / 2, (W - 1) / 2)`` as its centre, the centre of the uniform map it
normalises to.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.metrics.functional._checks import (
    _check_map_batch,
    _check_maps,
    _check_non_negative,
    _check_reduction,
    _check_valid,
)
from robattr.metrics.functional._utils import Reduction, _reduce, _score_dtype, _sum_valid


def center_of_mass(maps: Tensor, validate_args: bool = True) -> Tensor:
    """Attribution-weighted mean ``(row, col)`` of each map, ``(N, H, W) -> (N, 2)``, not truncated.

    Differentiable, so the mass-centre attack of Ghorbani et al. can use it; accumulated in float64 and returned in
    the maps' floating dtype.

    Args:
        maps: non-negative attribution maps ``(N, H, W)``.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if ``maps`` is not 3-D, holds NaN or infinite values, or a negative value.
        TypeError: if ``maps`` is not a tensor.

    Example:
        >>> import torch
        >>> center_of_mass(torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]]))
        tensor([[0.7500, 1.7500]])
    """
    if validate_args:
        _check_map_batch(maps)
        _check_non_negative(maps, "maps")
    n, h, w = maps.shape
    weights = maps.to(torch.float64)
    total = weights.sum((1, 2))
    rows = torch.arange(h, dtype=torch.float64, device=maps.device)
    cols = torch.arange(w, dtype=torch.float64, device=maps.device)
    centre = torch.stack([(weights.sum(2) * rows).sum(1), (weights.sum(1) * cols).sum(1)], 1) / total.unsqueeze(1)
    middle = centre.new_tensor([(h - 1) / 2, (w - 1) / 2]).expand(n, 2)
    return torch.where((total == 0).unsqueeze(1), middle, centre).to(_score_dtype(maps))


def _center_of_mass_shift_per_sample(clean: Tensor, perturbed: Tensor) -> Tensor:
    """``|| trunc(C(clean)) - trunc(C(perturbed)) ||_2`` per sample, ``(N,)``; no checks."""
    shift = center_of_mass(clean, False).double().trunc() - center_of_mass(perturbed, False).double().trunc()
    return shift.norm(dim=1).to(_score_dtype(clean))


def _check_com_args(clean: Tensor, perturbed: Tensor) -> None:
    _check_maps(clean, perturbed)
    _check_non_negative(clean, "clean")
    _check_non_negative(perturbed, "perturbed")


def _center_of_mass_shift_update(
    clean: Tensor, perturbed: Tensor, valid: Tensor | None = None, validate_args: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of the shifts over the valid samples."""
    if validate_args:
        _check_com_args(clean, perturbed)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_center_of_mass_shift_per_sample(clean, perturbed), valid)


def center_of_mass_shift(
    clean: Tensor, perturbed: Tensor, reduction: Reduction = "mean", validate_args: bool = True
) -> Tensor:
    """Centre-of-mass dislocation ``|| trunc(C(clean)) - trunc(C(perturbed)) ||_2`` in pixels (lower is more robust).

    Ghorbani, Abid and Zou, "Interpretation of Neural Networks is Fragile", AAAI 2019; ``C`` is
    :func:`center_of_mass`, truncated to integer pixel coordinates as in the reference code.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``, non-negative.
        perturbed: maps of the perturbed inputs ``(N, H, W)``, non-negative.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN, infinite or negative values, or
            ``reduction`` is unknown.
        TypeError: if a map is not a tensor.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 8, 8)
        >>> clean[0, 1, 1] = 1.0
        >>> perturbed = torch.zeros(1, 8, 8)
        >>> perturbed[0, 4, 5] = 1.0
        >>> center_of_mass_shift(clean, perturbed)
        tensor(5.)
    """
    if validate_args:
        _check_reduction(reduction)
        _check_com_args(clean, perturbed)
    return _reduce(_center_of_mass_shift_per_sample(clean, perturbed), reduction)
