"""Top-k intersection and the LENS top-k metrics between clean and perturbed attribution maps.

With ``O = T_k(clean)`` and ``P = T_k(perturbed)`` (``k`` largest pixels, ties by value descending then flat index
ascending, see :func:`~robattr.metrics.functional.masks.topk_mask`) and ``N_r`` the Chebyshev-radius-``r`` square
neighbourhood (:func:`~robattr.metrics.functional.masks.neighbourhood_mask`):

- top-k intersection ``|O ∩ P| / k`` (Ghorbani et al., AAAI 2019; the clean-vs-attacked score, **not** Quantus'
  ``TopKIntersection``, which localises against a ground-truth mask);
- r-LENS-recall@k ``|N_r(O) ∩ P| / k``: the fraction of the perturbed top-k lying near some clean top-k pixel;
- r-LENS-prec@k ``|O ∩ N_r(P)| / k``: the fraction of the clean top-k lying near some perturbed top-k pixel
  (Kamath et al., "Rethinking Robustness of Model Attributions", AAAI 2024; names follow the released code).

In the default 2-D mode ``topk <= LENS_r <= LENS_{r+1} <= 1``, ``LENS_0 = topk`` and
``lens_precision(a, b) = lens_recall(b, a)``.
"""

from __future__ import annotations

from torch import Tensor

from robattr.metrics.functional._checks import (
    _check_flag,
    _check_k,
    _check_maps,
    _check_radius,
    _check_reduction,
    _check_valid,
)
from robattr.metrics.functional._utils import Reduction, _in_chunks, _reduce, _score_dtype, _sum_valid
from robattr.metrics.functional.masks import neighbourhood_mask, topk_mask


def _count_score(mask: Tensor, k: int, like: Tensor) -> Tensor:
    """``|mask| / k`` per sample, in the score dtype of ``like``."""
    return mask.flatten(1).sum(1).to(_score_dtype(like)) / k


def _check_topk_args(clean: Tensor, perturbed: Tensor, k: int, radius: int = 0, flat_index: bool = False) -> None:
    _check_maps(clean, perturbed)
    _check_k(k, clean.shape[-2] * clean.shape[-1])
    _check_radius(radius)
    _check_flag(flat_index, "flat_index")


def _lens_per_sample(clean: Tensor, perturbed: Tensor, k: int, radius: int, flat_index: bool) -> Tensor:
    """``|N_r(T_k(clean)) ∩ T_k(perturbed)| / k`` per sample, ``(N,)``; the top-k intersection at ``radius=0``
    (without ``flat_index``). No checks.
    """

    def score(a: Tensor, b: Tensor) -> Tensor:
        near_a = topk_mask(a, k, False)
        if radius or flat_index:
            near_a = neighbourhood_mask(near_a, radius, flat_index, False)
        return _count_score(near_a & topk_mask(b, k, False), k, a)

    return _in_chunks(score, clean, perturbed)


def _topk_family_per_sample(
    clean: Tensor, perturbed: Tensor, k: int, radius: int, flat_index: bool, precision: bool
) -> Tensor:
    """LENS-recall, or with ``precision=True`` LENS-precision (LENS-recall with the maps swapped); no checks."""
    if precision:
        clean, perturbed = perturbed, clean
    return _lens_per_sample(clean, perturbed, k, radius, flat_index)


def _topk_family_update(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 0,
    flat_index: bool = False,
    precision: bool = False,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Check the inputs and return ``(sum, sum of squares, count)`` of the scores of the valid samples.

    One body for the family: top-k intersection (``radius=0``), LENS-recall, and LENS-precision (``precision=True``).
    """
    if validate_args:
        _check_topk_args(clean, perturbed, k, radius, flat_index)
        _check_valid(valid, clean.shape[0])
    return _sum_valid(_topk_family_per_sample(clean, perturbed, k, radius, flat_index, precision), valid)


def _topk_family(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int,
    flat_index: bool,
    precision: bool,
    reduction: Reduction,
    validate_args: bool,
) -> Tensor:
    """The public functions' shared body: check, score, reduce."""
    if validate_args:
        _check_reduction(reduction)
        _check_topk_args(clean, perturbed, k, radius, flat_index)
    return _reduce(_topk_family_per_sample(clean, perturbed, k, radius, flat_index, precision), reduction)


def topk_intersection(
    clean: Tensor, perturbed: Tensor, k: int, reduction: Reduction = "mean", validate_args: bool = True
) -> Tensor:
    """Top-k intersection ``|T_k(clean) ∩ T_k(perturbed)| / k`` of each pair of maps.

    Ghorbani, Abid and Zou, "Interpretation of Neural Networks is Fragile", AAAI 2019. Symmetric; about ``k / (H W)``
    for unrelated maps. Ties: value descending, then flat index ascending.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of top pixels, an integer in ``[1, H * W - 1]``.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k`` is out of range or
            ``reduction`` unknown.
        TypeError: if a map is not a tensor or ``k`` not an integer.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
        >>> perturbed = torch.tensor([[[4.0, 1.0], [2.0, 3.0]]])
        >>> topk_intersection(clean, perturbed, k=2)
        tensor(0.5000)
    """
    return _topk_family(clean, perturbed, k, 0, False, False, reduction, validate_args)


def lens_recall(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> Tensor:
    """r-LENS-recall@k ``|N_r(T_k(clean)) ∩ T_k(perturbed)| / k``.

    Kamath, Mittal, Deshpande and Balasubramanian, "Rethinking Robustness of Model Attributions", AAAI 2024: the
    fraction of the perturbed top-k pixels within Chebyshev distance ``radius`` of some clean top-k pixel
    (``radius=1``: the 3x3 window, "1-LENS"). ``radius=0`` gives the top-k intersection.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of top pixels, an integer in ``[1, H * W - 1]``.
        radius: Chebyshev radius of the neighbourhood, ``>= 0``.
        flat_index: use the released code's flat-index windows (row wrap, pixel 0 never counted, see
            :func:`~robattr.metrics.functional.masks.neighbourhood_mask`) instead of clean 2-D windows.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k`` or ``radius`` is out
            of range or ``reduction`` unknown.
        TypeError: if a map is not a tensor, ``k`` or ``radius`` not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 4, 4)
        >>> clean[0, 1, 1] = 1.0
        >>> perturbed = torch.roll(clean, shifts=1, dims=2)  # the same map, one pixel to the right
        >>> lens_recall(clean, perturbed, k=1), lens_recall(clean, perturbed, k=1, radius=0)
        (tensor(1.), tensor(0.))
    """
    return _topk_family(clean, perturbed, k, radius, flat_index, False, reduction, validate_args)


def lens_precision(
    clean: Tensor,
    perturbed: Tensor,
    k: int,
    radius: int = 1,
    flat_index: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> Tensor:
    """r-LENS-prec@k ``|T_k(clean) ∩ N_r(T_k(perturbed))| / k``.

    Kamath et al., AAAI 2024: the fraction of the clean top-k pixels within Chebyshev distance ``radius`` of some
    perturbed top-k pixel. ``lens_precision(a, b) == lens_recall(b, a)``.

    Args:
        clean: maps of the unperturbed inputs ``(N, H, W)``.
        perturbed: maps of the perturbed inputs ``(N, H, W)``.
        k: number of top pixels, an integer in ``[1, H * W - 1]``.
        radius: Chebyshev radius of the neighbourhood, ``>= 0``.
        flat_index: use the released code's flat-index windows instead of clean 2-D windows.
        reduction: ``"mean"`` over the batch, or ``"none"`` for the ``(N,)`` per-sample scores.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Raises:
        ValueError: if the shapes differ or are not 3-D, a map holds NaN or infinite values, ``k`` or ``radius`` is out
            of range or ``reduction`` unknown.
        TypeError: if a map is not a tensor, ``k`` or ``radius`` not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> clean = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 2.0, 1.0]]])
        >>> perturbed = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 1.0]]])
        >>> lens_precision(clean, perturbed, k=2, reduction="none")
        tensor([1.])
        >>> lens_recall(clean, perturbed, k=2, reduction="none")
        tensor([0.5000])
    """
    return _topk_family(clean, perturbed, k, radius, flat_index, True, reduction, validate_args)
