"""Switchable (leaky-)ReLU activations and the softplus surrogate used by attribution attacks.

Gradient maps of a ReLU network have a zero second derivative almost everywhere, so attacks on attributions
take their direction on a *surrogate*: the same parameters with every ReLU replaced by softplus (and every
leaky ReLU of slope ``s`` by the "leaky softplus" ``s * z + (1 - s) * softplus(z)``). The swap changes a flag on
the activation modules, never copies the model, so the surrogate always shares the current parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.nn.functional as F
from torch import Tensor, nn


class SwitchableReLU(nn.Module):
    """A (leaky) ReLU that can be switched to its softplus surrogate.

    ``surrogate_beta is None`` gives ``max(z, s * z)``; a float ``beta`` gives
    ``s * z + (1 - s) * softplus_beta(z)`` with ``softplus_beta(z) = log(1 + exp(beta * z)) / beta``.

    Args:
        negative_slope: slope ``s`` for ``z < 0`` (0 for ReLU, 0.1 for RAR's Flower ResNet).

    Example:
        >>> import torch
        >>> act = SwitchableReLU()
        >>> act(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
        >>> act.surrogate_beta = 1.0
        >>> act(torch.tensor([0.0]))
        tensor([0.6931])
    """

    def __init__(self, negative_slope: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= negative_slope < 1.0:
            raise ValueError(f"Expected `negative_slope` to be in [0, 1), but got {negative_slope}")
        self.negative_slope = negative_slope
        self.surrogate_beta: float | None = None

    def forward(self, z: Tensor) -> Tensor:
        s = self.negative_slope
        if self.surrogate_beta is None:
            return F.leaky_relu(z, s) if s > 0 else F.relu(z)
        soft = F.softplus(z, beta=self.surrogate_beta)
        return soft if s == 0 else s * z + (1.0 - s) * soft

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}, surrogate_beta={self.surrogate_beta}"


def make_switchable(model: nn.Module) -> nn.Module:
    """Replace every ``nn.ReLU`` / ``nn.LeakyReLU`` submodule of ``model`` in place by a :class:`SwitchableReLU`.

    Functional calls (``F.relu`` inside ``forward``) cannot be found this way; robattr's own models use modules.

    Returns:
        The same ``model``, for chaining.
    """
    for name, child in list(model.named_children()):
        if isinstance(child, nn.ReLU):
            setattr(model, name, SwitchableReLU(0.0))
        elif isinstance(child, nn.LeakyReLU):
            setattr(model, name, SwitchableReLU(float(child.negative_slope)))
        else:
            make_switchable(child)
    return model


@contextmanager
def softplus_surrogate(model: nn.Module, beta: float = 1.0) -> Iterator[nn.Module]:
    """Within the block, every :class:`SwitchableReLU` of ``model`` is its softplus-``beta`` surrogate.

    Raises:
        ValueError: if ``beta <= 0`` or the model has no switchable activation (the swap would be a no-op, and an
            attack would silently get a zero second derivative).

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(2, 2), SwitchableReLU())
        >>> with softplus_surrogate(net, beta=10.0) as surrogate:
        ...     surrogate is net
        True
    """
    if beta <= 0:
        raise ValueError(f"Expected `beta` to be a positive float, but got {beta}")
    acts = [m for m in model.modules() if isinstance(m, SwitchableReLU)]
    if not acts:
        raise ValueError(
            "Expected `model` to contain SwitchableReLU activations (call robattr.models.make_switchable first), "
            f"but got none in {type(model).__name__}"
        )
    previous = [a.surrogate_beta for a in acts]
    for a in acts:
        a.surrogate_beta = beta
    try:
        yield model
    finally:
        for a, p in zip(acts, previous):
            a.surrogate_beta = p
