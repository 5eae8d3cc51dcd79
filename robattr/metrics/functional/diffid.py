"""DiffID (Yang et al., AAAI 2023): the insertion game minus the deletion game, per ratio of removed pixels.

The metric never runs the model. The caller builds the perturbed inputs with :func:`diffid_inputs`, runs its model
on them, and hands the logits to :func:`diffid` (or :class:`robattr.metrics.DiffID`):

1. rank the pixels of each 2-D map ``(H, W)`` by value descending, ties by flat index ascending (deterministic);
2. for each ratio ``r`` and ``n_r = floor(r H W)``: **deletion** removes the ``n_r`` top-ranked pixels, **insertion**
   removes the ``n_r`` bottom-ranked ones (keeps the top ``H W - n_r``); every channel of a removed pixel is replaced by
   one value per image, the mean of the kept input values (over all kept pixels and channels);
3. per game and ratio, ``u = z'_t / z_t`` (the target logit after / before, the "fractional output change") and
   ``1[argmax z' = t]``, averaged over images;
4. ``DiffID_logit(r) = mean u(insertion, r) - mean u(deletion, r)`` and ``DiffID_acc(r)`` likewise, with two scalars
   each: the trapezoid area over the ratios (x axis in ratio units, so 0.8 wide for 0.1..0.9) and the plain mean of
   the per-ratio values. The papers report "the AUC"; which convention they used is not known
   (docs/recalibration.md, section 4).

Deviations from the released evaluator: pixels are removed whole (the code ranks the ``3 H W`` channel elements with
the channels of a pixel sharing one score, so ``n_r`` can split a pixel), ties are broken deterministically (the code
used ``torch.argsort``), the replacement mean is taken in the model's ``[0, 1]`` input space (robattr models
normalise inside; the code averaged normalised values), and the averages run over the images actually evaluated (the
code averaged a buffer sized to the whole dataset). Like the code, ``u`` is unstable when ``z_t`` is near 0 and
flips meaning when ``z_t < 0``; the target is the label the caller passes (the code: the ground truth).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from robattr.metrics.functional._checks import _check_map_batch, _check_valid

DEFAULT_RATIOS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
GAMES: tuple[str, ...] = ("insertion", "deletion")


def _check_ratios(ratios: Sequence[float]) -> None:
    """Raise unless ``ratios`` is a non-empty sequence of numbers strictly inside ``(0, 1)``."""
    ok = isinstance(ratios, (list, tuple)) and len(ratios) > 0
    ok = ok and all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1 for r in ratios)
    if not ok:
        raise ValueError(f"Expected `ratios` to be a non-empty list of numbers in (0, 1), but got {ratios!r}")


def diffid_keep_masks(maps: Tensor, ratios: Sequence[float] = DEFAULT_RATIOS, validate_args: bool = True) -> Tensor:
    """Pixels kept by each game at each ratio, a bool tensor ``(2, R, N, H, W)`` (index 0 insertion, 1 deletion).

    Args:
        maps: 2-D attribution maps ``(N, H, W)``; larger is more important.
        ratios: fractions of pixels removed, each in ``(0, 1)``.
        validate_args: check the arguments.

    Example:
        >>> masks = diffid_keep_masks(torch.tensor([[[3.0, 1.0], [2.0, 0.0]]]), ratios=[0.5])
        >>> masks[0, 0].int()  # insertion keeps the top half
        tensor([[[1, 0],
                 [1, 0]]], dtype=torch.int32)
        >>> masks[1, 0].int()  # deletion removes it
        tensor([[[0, 1],
                 [0, 1]]], dtype=torch.int32)
    """
    if validate_args:
        _check_map_batch(maps)
        _check_ratios(ratios)
    n, d = maps.shape[0], maps.shape[1] * maps.shape[2]
    order = torch.sort(-maps.detach().reshape(n, d), dim=1, stable=True).indices  # value desc, index asc
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(d, device=maps.device).expand(n, d))
    removed = torch.tensor([math.floor(d * r) for r in ratios], device=maps.device).view(-1, 1, 1)
    insertion = rank < d - removed
    deletion = rank >= removed
    return torch.stack([insertion, deletion]).view(2, len(ratios), *maps.shape)


def diffid_inputs(
    inputs: Tensor, maps: Tensor, ratios: Sequence[float] = DEFAULT_RATIOS, validate_args: bool = True
) -> Tensor:
    """The perturbed inputs of both games at every ratio, ``(2, R, N, C, H, W)``; run the model on them.

    Removed pixels take the mean of the kept input values of their image (one scalar per image, game and ratio).
    Memory is ``2 R`` copies of the batch: call it once per ratio (``ratios=[r]``) when that is too much.

    Args:
        inputs: images ``(N, C, H, W)``.
        maps: 2-D attribution maps ``(N, H, W)``.
        ratios: fractions of pixels removed.
        validate_args: check the arguments.

    Raises:
        ValueError: for maps whose shape is not ``(N, H, W)`` of the inputs, or a ratio outside ``(0, 1)``.

    Example:
        >>> x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> diffid_inputs(x, torch.tensor([[[4.0, 3.0], [2.0, 1.0]]]), ratios=[0.5])[:, 0, 0, 0]
        tensor([[[1.0000, 2.0000],
                 [1.5000, 1.5000]],
        <BLANKLINE>
                [[3.5000, 3.5000],
                 [3.0000, 4.0000]]])
    """
    if validate_args:
        if inputs.dim() != 4 or maps.shape != (inputs.shape[0],) + tuple(inputs.shape[2:]):
            raise ValueError(
                "Expected `inputs` (N, C, H, W) and `maps` (N, H, W) of the same N, H, W, but got"
                f" {tuple(inputs.shape)} and {tuple(maps.shape)}"
            )
    keep = diffid_keep_masks(maps, ratios, validate_args).unsqueeze(3).to(inputs.dtype)  # (2, R, N, 1, H, W)
    x = inputs.detach().unsqueeze(0).unsqueeze(0)
    kept_sum = (x * keep).sum((3, 4, 5), keepdim=True)
    kept_count = keep.sum((3, 4, 5), keepdim=True) * inputs.shape[1]
    mean = kept_sum / kept_count
    return x * keep + mean * (1 - keep)


def _diffid_values(
    clean_logits: Tensor,
    perturbed_logits: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor]:
    """Per image, ``u = z'_t / z_t`` and ``1[argmax z' = t]``, each ``(2, R, N')`` float64 over the valid images."""
    if validate_args:
        n = clean_logits.shape[0]
        if (
            clean_logits.dim() != 2
            or perturbed_logits.dim() != 4
            or perturbed_logits.shape[0] != 2
            or perturbed_logits.shape[2:] != clean_logits.shape
        ):
            raise ValueError(
                "Expected `clean_logits` (N, K) and `perturbed_logits` (2, R, N, K), but got"
                f" {tuple(clean_logits.shape)} and {tuple(perturbed_logits.shape)}"
            )
        if target.shape != (n,):
            raise ValueError(f"Expected `target` of shape ({n},), but got {tuple(target.shape)}")
        _check_valid(valid, n)
    z = clean_logits.detach().double().gather(1, target.view(-1, 1)).squeeze(1)
    t = target.view(1, 1, -1, 1).expand(*perturbed_logits.shape[:3], 1)
    z_pert = perturbed_logits.detach().double().gather(3, t).squeeze(3)
    ratio = z_pert / z
    correct = (perturbed_logits.argmax(3) == target.view(1, 1, -1)).double()
    if valid is not None:
        ratio, correct = ratio[:, :, valid], correct[:, :, valid]
    return ratio, correct


def _diffid_update(
    clean_logits: Tensor,
    perturbed_logits: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(sum of u (2, R), number correct (2, R), number of images)`` over the valid images of a batch."""
    ratio, correct = _diffid_values(clean_logits, perturbed_logits, target, valid, validate_args)
    return ratio.sum(2), correct.sum(2), torch.tensor(ratio.shape[2], device=ratio.device)


def _diffid_outputs(logit: Tensor, acc: Tensor, x: Tensor) -> dict[str, Tensor]:
    """The curves ``(..., R)`` and scalars ``(...)`` from per-game values ``(2, ..., R)`` (float64, not cast).

    Linear in ``logit`` and ``acc``: applied to per-image values it gives per-image outputs, to sums their sums.
    """
    out = {
        "insertion_logit": logit[0],
        "deletion_logit": logit[1],
        "diffid_logit": logit[0] - logit[1],
        "insertion_acc": acc[0],
        "deletion_acc": acc[1],
        "diffid_acc": acc[0] - acc[1],
    }
    for name in ("logit", "acc"):
        curve = out[f"diffid_{name}"]
        out[f"diffid_{name}_auc"] = torch.trapezoid(curve, x, dim=-1) if len(x) > 1 else curve.sum(-1) * 0
        out[f"diffid_{name}_mean"] = curve.mean(-1)
    return out


def _diffid_sq_sums(ratio: Tensor, correct: Tensor, ratios: Sequence[float]) -> dict[str, Tensor]:
    """Per output, the sum over images of the squared per-image values (for the standard errors)."""
    x = torch.tensor(list(ratios), dtype=torch.float64, device=ratio.device)
    per_image = _diffid_outputs(ratio.transpose(1, 2), correct.transpose(1, 2), x)
    return {name: value.square().sum(0) for name, value in per_image.items()}


def _diffid_compute(
    ratio_sum: Tensor, correct_sum: Tensor, total: Tensor, ratios: Sequence[float]
) -> dict[str, Tensor]:
    """Per-ratio curves and their scalars from the accumulated sums."""
    x = torch.tensor(list(ratios), dtype=torch.float64, device=ratio_sum.device)
    out = _diffid_outputs(ratio_sum / total, correct_sum / total, x)
    return {k: v.to(torch.get_default_dtype()) for k, v in out.items()}


def diffid(
    clean_logits: Tensor,
    perturbed_logits: Tensor,
    target: Tensor,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    validate_args: bool = True,
) -> dict[str, Tensor]:
    """DiffID curves and scalars from the logits on the clean and the :func:`diffid_inputs` images.

    Args:
        clean_logits: ``(N, K)``.
        perturbed_logits: ``(2, R, N, K)``, the model on :func:`diffid_inputs` (insertion first).
        target: explained class ``(N,)``.
        ratios: the ``R`` ratios used to build the inputs.
        validate_args: check the arguments.

    Returns:
        ``insertion_logit``, ``deletion_logit``, ``diffid_logit``, ``insertion_acc``, ``deletion_acc``, ``diffid_acc``
        (each ``(R,)``) and the scalars ``diffid_logit_auc``, ``diffid_logit_mean``, ``diffid_acc_auc``,
        ``diffid_acc_mean`` (see the module docstring).

    Raises:
        ValueError: for shapes that do not match or a ratio outside ``(0, 1)``.

    Example:
        >>> clean = torch.tensor([[2.0, 0.0]])
        >>> perturbed = torch.tensor([[[[1.5, 0.0]]], [[[0.5, 1.0]]]])  # insertion, deletion at one ratio
        >>> out = diffid(clean, perturbed, torch.tensor([0]), ratios=[0.5])
        >>> out["diffid_logit"], out["diffid_acc"]
        (tensor([0.5000]), tensor([1.]))
    """
    if validate_args:
        _check_ratios(ratios)
        if perturbed_logits.dim() == 4 and perturbed_logits.shape[1] != len(ratios):
            raise ValueError(
                f"Expected `perturbed_logits` with {len(ratios)} ratios in dim 1, but got"
                f" {tuple(perturbed_logits.shape)}"
            )
    return _diffid_compute(*_diffid_update(clean_logits, perturbed_logits, target, None, validate_args), ratios)
