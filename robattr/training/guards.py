"""Guards of a training run: a non-finite loss, gradient or weight stops it before it reaches a checkpoint.

A diverged run (learning rate too high, a bad batch) otherwise keeps going with NaN weights, saves them as ``last``
and ``best``, and an evaluation of that checkpoint scores NaN logits as perfectly robust maps. robattr stops at the
first non-finite value instead, with a message naming the step, and the console commands exit with status 1.

Example:
    >>> import torch
    >>> first_non_finite({"w": torch.ones(2), "b": torch.tensor([0.0, float("nan")])})
    'b'
    >>> first_non_finite({"w": torch.ones(2)}) is None
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor


class NonFiniteError(RuntimeError):
    """A loss, gradient or weight became NaN or infinite; the run stopped before writing it anywhere."""

    exit_code = 1


def first_non_finite(tensors: Mapping[str, Tensor | None] | Iterable[tuple[str, Tensor | None]]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or ``None`` when all are finite."""
    items = tensors.items() if isinstance(tensors, Mapping) else tensors
    floats = [(name, t) for name, t in items if isinstance(t, Tensor) and t.is_floating_point()]
    if not floats:
        return None
    finite = torch.stack([t.detach().isfinite().all() for _, t in floats]).cpu()  # one device sync
    bad = (~finite).nonzero()
    return floats[int(bad[0])][0] if len(bad) else None


__all__ = ["NonFiniteError", "first_non_finite"]
