"""Saliency: the simple (input) gradient."""

from __future__ import annotations

from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.objectives import Objective


class Saliency(Attribution):
    """Simple gradient ``A = dS/dx`` (Simonyan et al. 2014), signed; the 2-D map helper takes ``|.|``.

    ``S`` is the logit of the target class by default (RAR, LENS, Ghorbani's SG). One forward and one backward
    pass; supports ``create_graph=True`` (attacks on SG differentiate through it).

    Args:
        objective: explained scalar (``logit``, ``prob``, ``contrast``, ``loss``).
        abs: return ``|dS/dx|`` (captum's ``Saliency`` default) instead of the signed gradient.

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(3, 2, bias=False)
        >>> with torch.no_grad(): _ = model.weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]]))
        >>> Saliency()(model, torch.zeros(1, 3), target=0)
        tensor([[ 1., -2.,  3.]])
    """

    supports_create_graph = True

    def __init__(self, objective: Objective = "logit", abs: bool = False) -> None:
        super().__init__(objective)
        self.abs = abs

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        grad = self.objective_grad(model, inputs, target, create_graph=create_graph)
        return grad.abs() if self.abs else grad
