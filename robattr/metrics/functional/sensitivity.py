"""Sensitivity-n (Ancona et al., ICLR 2018), as the re-calibration code runs it: does the attribution mass of a
random pixel subset predict the output drop when that subset is removed?

For each ratio ``q`` the caller draws ``n_draws`` Bernoulli(``q``) pixel masks per image
(:func:`sensitivity_n_masks`, shared across channels), replaces the masked pixels with a baseline
(:func:`sensitivity_n_inputs`), runs its model, and hands the logits to :func:`sensitivity_n`, which computes per
image the Pearson correlation over the draws between ``s = sum(M * mask)`` (the map's mass on the removed pixels) and
``delta = z_t(x) - z_t(x_removed)``, then its mean and std over images. An image whose draws give a constant ``s`` or
``delta`` has no correlation and is skipped (the code's ``nanmean``). The map ``M`` is the caller's 2-D reduction:
the code runs both ``abs`` (``sum_c |A_c|``) and ``sum`` (``sum_c A_c``).

Deviation: baselines are values of the model's ``[0, 1]`` input: ``zero`` (black) or ``rand`` (``U[0, 1]`` pixels).
The code inserted 0 and ``U[0, 1]`` into the *normalised* input, i.e. the dataset-mean colour and an off-range noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from robattr.checks import check_choice, check_int
from robattr.metrics.functional._checks import _check_map_batch, _check_valid
from robattr.metrics.functional.diffid import DEFAULT_RATIOS, _check_ratios

Baseline = Literal["zero", "rand"]


def sensitivity_n_masks(
    maps: Tensor, ratios: Sequence[float] = DEFAULT_RATIOS, n_draws: int = 10, generator: torch.Generator | None = None
) -> Tensor:
    """Bernoulli(``q``) masks of removed pixels, a bool tensor ``(R, n_draws, N, H, W)``, for maps ``(N, H, W)``.

    Raises:
        ValueError: for a ratio outside ``(0, 1)`` or a non-positive ``n_draws``.

    Example:
        >>> sensitivity_n_masks(torch.zeros(3, 4, 4), ratios=[0.2, 0.5], n_draws=6).shape
        torch.Size([2, 6, 3, 4, 4])
    """
    _check_map_batch(maps)
    _check_ratios(ratios)
    check_int("n_draws", n_draws, 2, what="an integer >= 2 (a correlation needs two draws)")
    shape = (len(ratios), n_draws) + tuple(maps.shape)
    u = torch.rand(shape, generator=generator, device=generator.device if generator is not None else "cpu").to(
        maps.device
    )
    q = torch.tensor(list(ratios), device=maps.device).view(-1, 1, 1, 1, 1)
    return u < q


def sensitivity_n_inputs(
    inputs: Tensor, masks: Tensor, baseline: Baseline = "zero", generator: torch.Generator | None = None
) -> Tensor:
    """The inputs with the masked pixels replaced, ``(R, n_draws, N, C, H, W)``; run the model on them.

    Args:
        inputs: images ``(N, C, H, W)`` in ``[0, 1]``.
        masks: removed pixels ``(R, n_draws, N, H, W)`` from :func:`sensitivity_n_masks`.
        baseline: ``zero`` (0 in every channel) or ``rand`` (``U[0, 1]`` per value).
        generator: for the ``rand`` baseline.

    Example:
        >>> x = torch.ones(1, 1, 1, 2)
        >>> sensitivity_n_inputs(x, torch.tensor([[[[[True, False]]]]])).flatten()
        tensor([0., 1.])
    """
    check_choice("baseline", baseline, ["zero", "rand"])
    if inputs.dim() != 4 or masks.dim() != 5 or masks.shape[2:] != (inputs.shape[0],) + tuple(inputs.shape[2:]):
        raise ValueError(
            "Expected `inputs` (N, C, H, W) and `masks` (R, D, N, H, W), but got"
            f" {tuple(inputs.shape)} and {tuple(masks.shape)}"
        )
    m = masks.unsqueeze(3)
    x = inputs.detach().expand(*masks.shape[:2], *inputs.shape)
    if baseline == "zero":
        return x.masked_fill(m, 0.0)
    noise = torch.rand(x.shape, generator=generator, device=generator.device if generator is not None else "cpu")
    return torch.where(m, noise.to(device=x.device, dtype=x.dtype), x)


def _sensitivity_n_per_sample(
    maps: Tensor, masks: Tensor, clean_logits: Tensor, perturbed_logits: Tensor, target: Tensor
) -> Tensor:
    """Pearson correlation over the draws per ratio and image, ``(R, N)`` (NaN where undefined)."""
    s = (maps.detach().double().unsqueeze(0).unsqueeze(0) * masks).sum((-1, -2))  # (R, D, N)
    z = clean_logits.detach().double().gather(1, target.view(-1, 1)).squeeze(1)
    t = target.view(1, 1, -1, 1).expand(*perturbed_logits.shape[:3], 1)
    delta = z - perturbed_logits.detach().double().gather(3, t).squeeze(3)  # (R, D, N)
    s = s - s.mean(1, keepdim=True)
    delta = delta - delta.mean(1, keepdim=True)
    denom = (s.square().sum(1) * delta.square().sum(1)).sqrt()
    return torch.where(denom > 0, (s * delta).sum(1) / denom, torch.full_like(denom, float("nan")))


def _sensitivity_n_update(
    maps: Tensor,
    masks: Tensor,
    clean_logits: Tensor,
    perturbed_logits: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(sum of corr (R,), sum of corr^2 (R,), count (R,))`` over the valid images with a defined correlation."""
    _check_map_batch(maps)
    n = maps.shape[0]
    if (
        masks.shape[2:] != maps.shape
        or perturbed_logits.shape[:3] != masks.shape[:3]
        or clean_logits.shape != (n, perturbed_logits.shape[3])
    ):
        raise ValueError(
            "Expected `maps` (N, H, W), `masks` (R, D, N, H, W), `clean_logits` (N, K) and `perturbed_logits`"
            f" (R, D, N, K), but got {tuple(maps.shape)}, {tuple(masks.shape)}, {tuple(clean_logits.shape)} and"
            f" {tuple(perturbed_logits.shape)}"
        )
    _check_valid(valid, n)
    corr = _sensitivity_n_per_sample(maps, masks, clean_logits, perturbed_logits, target)
    keep = ~torch.isnan(corr)
    if valid is not None:
        keep = keep & valid.view(1, -1)
    corr = torch.where(keep, corr, torch.zeros_like(corr))
    return corr.sum(1), corr.square().sum(1), keep.sum(1)


def _sensitivity_n_compute(corr_sum: Tensor, corr_sq_sum: Tensor, count: Tensor) -> dict[str, Tensor]:
    """Mean and (population) std over images of the per-image correlation, per ratio."""
    mean = corr_sum / count
    std = (corr_sq_sum / count - mean.square()).clamp_min(0).sqrt()
    return {"mean": mean.to(torch.get_default_dtype()), "std": std.to(torch.get_default_dtype())}


def sensitivity_n(
    maps: Tensor, masks: Tensor, clean_logits: Tensor, perturbed_logits: Tensor, target: Tensor
) -> dict[str, Tensor]:
    """Sensitivity-n per ratio: mean and std over images of ``corr(sum(M * mask), z_t(x) - z_t(x_removed))``.

    Args:
        maps: 2-D attribution maps ``(N, H, W)``.
        masks: removed pixels ``(R, D, N, H, W)`` (:func:`sensitivity_n_masks`).
        clean_logits: ``(N, K)``.
        perturbed_logits: ``(R, D, N, K)``, the model on :func:`sensitivity_n_inputs`.
        target: explained class ``(N,)``.

    Returns:
        ``{"mean": (R,), "std": (R,)}``.

    Example:
        >>> maps = torch.tensor([[[1.0, 2.0, 3.0]]])
        >>> masks = torch.tensor([[[[[True, False, False]]], [[[False, True, True]]], [[[True, True, False]]]]])
        >>> drop = (maps * masks).sum((-1, -2))  # an output that drops by exactly the removed mass
        >>> logits = torch.stack([10 - 2 * drop, torch.zeros_like(drop)], -1)
        >>> sensitivity_n(maps, masks, torch.tensor([[10.0, 0.0]]), logits, torch.tensor([0]))["mean"]
        tensor([1.])
    """
    return _sensitivity_n_compute(*_sensitivity_n_update(maps, masks, clean_logits, perturbed_logits, target))
