"""Argument and tensor checks shared by the functional metrics (private).

Every message follows the house template ``Expected `name` to be ..., but got value`` so a test can match it whole.
"""

from __future__ import annotations

import torch
from torch import Tensor

_REDUCTIONS = ("mean", "none")


def _is_int(value: object) -> bool:
    """Whether ``value`` is a Python integer (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_maps(clean: Tensor, perturbed: Tensor) -> None:
    """Check two batches of 2-D maps: tensors of the same 3-D shape ``(N, H, W)``."""
    for name, value in (("clean", clean), ("perturbed", perturbed)):
        if not isinstance(value, Tensor):
            raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}")
    _check_map_batch(clean, "clean")
    if clean.shape != perturbed.shape:
        raise ValueError(
            f"Expected `clean` and `perturbed` to have the same shape, but got {tuple(clean.shape)}"
            f" and {tuple(perturbed.shape)}"
        )


def _check_map_batch(maps: Tensor, name: str = "maps") -> None:
    """Check one batch of 2-D maps of shape ``(N, H, W)``."""
    if not isinstance(maps, Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(maps).__name__}")
    if maps.dim() != 3:
        raise ValueError(f"Expected `{name}` to be a 3-D tensor of shape (N, H, W), but got shape {tuple(maps.shape)}")


def _check_k(k: object, num_pixels: int | None = None) -> None:
    """Check ``k``: an integer in ``[1, num_pixels - 1]`` (only ``k >= 1`` while the map size is unknown)."""
    if num_pixels is None:
        if not _is_int(k) or k < 1:
            exc = ValueError if _is_int(k) else TypeError
            raise exc(f"Expected `k` to be a positive integer, but got {k!r}")
        return
    if not _is_int(k) or not 1 <= k <= num_pixels - 1:
        exc = ValueError if _is_int(k) else TypeError
        raise exc(f"Expected `k` to be an integer in [1, {num_pixels - 1}], but got {k!r}")


def _check_radius(radius: object) -> None:
    """Check the Chebyshev radius of the LENS / top-k-div neighbourhood: a non-negative integer."""
    if not _is_int(radius) or radius < 0:
        exc = ValueError if _is_int(radius) else TypeError
        raise exc(f"Expected `radius` to be a non-negative integer, but got {radius!r}")


def _check_pool(pool: object, k: int, num_pixels: int | None = None) -> None:
    """Check the top-k-div candidate pool: ``None`` or an integer in ``[k, num_pixels]``."""
    if pool is None:
        return
    upper = "H*W" if num_pixels is None else str(num_pixels)
    if not _is_int(pool) or pool < k or (num_pixels is not None and pool > num_pixels):
        exc = ValueError if _is_int(pool) else TypeError
        raise exc(f"Expected `pool` to be None or an integer in [{k}, {upper}], but got {pool!r}")


def _check_flag(value: object, name: str) -> None:
    """Check a boolean switch such as ``flat_index``."""
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool, but got {value!r}")


def _check_reduction(reduction: object) -> None:
    """Check ``reduction`` against ``("mean", "none")``."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Expected `reduction` to be one of {list(_REDUCTIONS)}, but got {reduction!r}")


def _check_valid(valid: Tensor | None, num_samples: int) -> None:
    """Check the optional per-sample mask: a boolean tensor of shape ``(N,)``."""
    if valid is None:
        return
    if not isinstance(valid, Tensor) or valid.dtype != torch.bool or tuple(valid.shape) != (num_samples,):
        got = f"{valid.dtype} tensor of shape {tuple(valid.shape)}" if isinstance(valid, Tensor) else repr(valid)
        raise ValueError(f"Expected `valid` to be a bool tensor of shape ({num_samples},), but got {got}")
