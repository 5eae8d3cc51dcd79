"""Map-specific argument checks of the functional metrics (private); integers, choices and flags go through
:mod:`robattr.checks`.

Every message follows the house template ``Expected `name` to be ..., but got value`` so a test can match it whole.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.checks import check_bool, check_choice, check_finite, check_int, check_optional_int, check_tensor

_REDUCTIONS = ("mean", "none")
SELECTIONS = ("greedy", "released")


def _check_maps(clean: Tensor, perturbed: Tensor) -> None:
    """Check two batches of 2-D maps: finite tensors of the same 3-D shape ``(N, H, W)``."""
    check_tensor("clean", clean)
    check_tensor("perturbed", perturbed)
    _check_map_batch(clean, "clean")
    if clean.shape != perturbed.shape:
        raise ValueError(
            f"Expected `clean` and `perturbed` to have the same shape, but got {tuple(clean.shape)}"
            f" and {tuple(perturbed.shape)}"
        )
    check_finite("perturbed", perturbed)


def _check_map_batch(maps: Tensor, name: str = "maps", finite: bool = True) -> None:
    """Check one batch of 2-D maps of shape ``(N, H, W)``, finite unless ``finite=False`` (boolean masks)."""
    check_tensor(name, maps, 3, "(N, H, W)")
    if finite:
        check_finite(name, maps)


def _check_non_negative(maps: Tensor, name: str) -> None:
    """Check that a batch of maps holds no negative value (the centre of mass weighs pixels by their value)."""
    if maps.numel() and bool((maps < 0).any()):
        raise ValueError(
            f"Expected `{name}` to be non-negative (a map such as sum_c |A|), but got a minimum of {float(maps.min())}"
        )


def _check_k(k: object, num_pixels: int | None = None) -> None:
    """Check ``k``: an integer in ``[1, num_pixels - 1]`` (only ``k >= 1`` while the map size is unknown)."""
    if num_pixels is None:
        check_int("k", k, 1, what="a positive integer")
    else:
        check_int("k", k, 1, num_pixels - 1)


def _check_radius(radius: object) -> None:
    """Check the Chebyshev radius of the LENS / top-k-div neighbourhood: a non-negative integer."""
    check_int("radius", radius, 0, what="a non-negative integer")


def _check_pool(pool: object, k: int, num_pixels: int | None = None) -> None:
    """Check the top-k-div candidate pool: ``None`` or an integer in ``[k, num_pixels]``."""
    upper = "H*W" if num_pixels is None else str(num_pixels)
    check_optional_int("pool", pool, k, num_pixels, what=f"None or an integer in [{k}, {upper}]")


def _check_flag(value: object, name: str) -> None:
    """Check a boolean switch such as ``flat_index``."""
    check_bool(name, value)


def _check_selection(selection: object) -> None:
    """Check the top-k-div selection rule: ``"greedy"`` or ``"released"``."""
    check_choice("selection", selection, SELECTIONS)


def _check_reduction(reduction: object) -> None:
    """Check ``reduction`` against ``("mean", "none")``."""
    check_choice("reduction", reduction, _REDUCTIONS)


def _check_valid(valid: Tensor | None, num_samples: int) -> None:
    """Check the optional per-sample mask: a boolean tensor of shape ``(N,)``."""
    if valid is None:
        return
    if not isinstance(valid, Tensor) or valid.dtype != torch.bool or tuple(valid.shape) != (num_samples,):
        got = f"{valid.dtype} tensor of shape {tuple(valid.shape)}" if isinstance(valid, Tensor) else repr(valid)
        raise ValueError(f"Expected `valid` to be a bool tensor of shape ({num_samples},), but got {got}")
