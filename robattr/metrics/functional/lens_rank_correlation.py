"""robattr's own LENS-Kendall and LENS-Spearman: rank correlations of max-filtered ("dilated") maps.

Kamath et al. ("Rethinking Robustness of Model Attributions", AAAI 2024) name LENS-Spearman and LENS-Kendall in
their abstract, but neither the paper text available to robattr nor their released code defines them (see
``docs/metrics.md``). **These functions are robattr's variant, not the paper's definition**: each map is replaced
by its ``(2r + 1) x (2r + 1)`` max filter (clipped at the border), ``â[p] = max_{q in N_r(p)} a[q]``, and the two
filtered maps are rank-correlated over all pixels. A pixel's value thus becomes "the strongest attribution within
distance r", so a shift of a peak by up to ``r`` pixels moves the filtered maps little. ``radius=0`` gives the
plain Kendall tau-b / Spearman rho. Report them under these names (e.g. ``lens_kendall_tau_r1``), never as the
paper's numbers. The family shares one body with :mod:`.rank_correlation`.
"""

from __future__ import annotations

from torch import Tensor

from robattr.metrics.functional._utils import Reduction
from robattr.metrics.functional.rank_correlation import _rank_correlation


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
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``radius`` is negative
            or ``reduction`` unknown.
        TypeError: if a map is not a tensor or ``radius`` not an integer.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> perturbed = clean.roll(1, dims=2)
        >>> from robattr.metrics.functional.rank_correlation import kendall_tau
        >>> kendall_tau(clean, perturbed), lens_kendall_tau(clean, perturbed, radius=1)
        (tensor(-0.0851), tensor(0.3736))
    """
    return _rank_correlation(clean, perturbed, "kendall", radius, reduction, validate_args)


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
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``radius`` is negative
            or ``reduction`` unknown.
        TypeError: if a map is not a tensor or ``radius`` not an integer.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 5, 5)
        >>> clean[0, 1, 1], clean[0, 3, 3] = 2.0, 1.0
        >>> perturbed = clean.roll(1, dims=2)
        >>> lens_spearman(clean, perturbed, radius=1, reduction="none")
        tensor([0.3845])
    """
    return _rank_correlation(clean, perturbed, "spearman", radius, reduction, validate_args)
