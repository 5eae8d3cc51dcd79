"""robattr's own LENS-Kendall and LENS-Spearman: rank correlations of max-filtered ("dilated") maps.

Kamath et al. (AAAI 2024) name LENS-Spearman and LENS-Kendall in their abstracts but neither the retrieved text nor
the released code defines them (spec section 4.7). **These functions are robattr's variant, not the paper's
definition**: each map is replaced by its ``(2r + 1) x (2r + 1)`` max filter (clipped at the border),
``â[p] = max_{q in N_r(p)} a[q]``, and the two filtered maps are rank-correlated over all pixels. A pixel's value
thus becomes "the strongest attribution within distance r", so a shift of a peak by up to ``r`` pixels moves the
filtered maps little. ``radius=0`` gives the plain Kendall tau-b / Spearman rho. Report them under these names
(e.g. ``lens_kendall_tau_r1``), never as the paper's numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.metrics.functional._checks import _check_maps, _check_radius, _check_reduction, _check_valid
from robattr.metrics.functional._utils import Reduction, _reduce, _sum_valid
from robattr.metrics.functional.masks import _window_max
from robattr.metrics.functional.rank_correlation import _kendall_tau_per_sample, _spearman_per_sample


def _max_filter(maps: Tensor, radius: int) -> Tensor:
    """The ``(2r + 1)^2`` max filter of each map ``(N, H, W)``, clipped at the border."""
    fill = float("-inf") if maps.is_floating_point() else torch.iinfo(maps.dtype).min
    return _window_max(_window_max(maps, radius, -1, fill=fill), radius, -2, fill=fill)


def _lens_kendall_tau_per_sample(clean: Tensor, perturbed: Tensor, radius: int) -> Tensor:
    """Kendall's tau-b of the max-filtered maps, ``(N,)``; no checks."""
    return _kendall_tau_per_sample(_max_filter(clean, radius), _max_filter(perturbed, radius))


def _lens_spearman_per_sample(clean: Tensor, perturbed: Tensor, radius: int) -> Tensor:
    """Spearman's rho of the max-filtered maps, ``(N,)``; no checks."""
    return _spearman_per_sample(_max_filter(clean, radius), _max_filter(perturbed, radius))


def _check_lens_rank_args(clean: Tensor, perturbed: Tensor, radius: int) -> None:
    _check_maps(clean, perturbed)
    _check_radius(radius)


def _lens_kendall_tau_update(
    clean: Tensor, perturbed: Tensor, radius: int = 1, valid: Tensor | None = None, validate_args: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of LENS-Kendall over the valid samples."""
    if validate_args:
        _check_lens_rank_args(clean, perturbed, radius)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_lens_kendall_tau_per_sample(clean, perturbed, radius), valid)


def _lens_spearman_update(
    clean: Tensor, perturbed: Tensor, radius: int = 1, valid: Tensor | None = None, validate_args: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of LENS-Spearman over the valid samples."""
    if validate_args:
        _check_lens_rank_args(clean, perturbed, radius)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_lens_spearman_per_sample(clean, perturbed, radius), valid)


def lens_kendall_tau(
    clean: Tensor, perturbed: Tensor, radius: int = 1, reduction: Reduction = "mean", validate_args: bool = True
) -> Tensor:
    """Robattr's LENS-Kendall: Kendall's tau-b between the ``(2r + 1)^2`` max-filtered clean and perturbed maps.

    **robattr's own variant** (see the module docstring): the LENS papers name a LENS-Kendall without defining it.
    ``radius=0`` is :func:`~robattr.metrics.functional.rank_correlation.kendall_tau`.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        radius: Chebyshev radius of the max filter, ``>= 0``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, ``radius`` is negative or ``reduction`` unknown.
        TypeError: if ``radius`` is not an integer.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> perturbed = clean.roll(1, dims=2)
        >>> from robattr.metrics.functional.rank_correlation import kendall_tau
        >>> kendall_tau(clean, perturbed), lens_kendall_tau(clean, perturbed, radius=1)
        (tensor(-0.0851), tensor(0.3736))
    """
    if validate_args:
        _check_reduction(reduction)
        _check_lens_rank_args(clean, perturbed, radius)
    return _reduce(_lens_kendall_tau_per_sample(clean, perturbed, radius), reduction)


def lens_spearman(
    clean: Tensor, perturbed: Tensor, radius: int = 1, reduction: Reduction = "mean", validate_args: bool = True
) -> Tensor:
    """Robattr's LENS-Spearman: Spearman's rho between the ``(2r + 1)^2`` max-filtered clean and perturbed maps.

    **robattr's own variant** (see the module docstring): the LENS papers name a LENS-Spearman without defining it.
    ``radius=0`` is :func:`~robattr.metrics.functional.rank_correlation.spearman`.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        radius: Chebyshev radius of the max filter, ``>= 0``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, ``radius`` is negative or ``reduction`` unknown.
        TypeError: if ``radius`` is not an integer.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> perturbed = clean.roll(1, dims=2)
        >>> lens_spearman(clean, perturbed, radius=1, reduction="none")
        tensor([0.3845])
    """
    if validate_args:
        _check_reduction(reduction)
        _check_lens_rank_args(clean, perturbed, radius)
    return _reduce(_lens_spearman_per_sample(clean, perturbed, radius), reduction)
