"""The Attribution interface: hyperparameters at construction, model and data at call time."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective, check_objective, select_objective


class Attribution:
    """Base class of every attribution method.

    An ``Attribution`` is built from hyperparameters alone (so a YAML config can name it) and called with a model and
    data: ``attr(model, inputs, target)`` returns a tensor of the **same shape as** ``inputs`` (captum's contract).
    One object therefore serves the trained network, its softplus surrogate, or a randomised copy.

    Subclasses implement :meth:`_attribute` and set the capability flags:

    - ``supports_create_graph``: whether ``create_graph=True`` yields attributions differentiable w.r.t. the
      inputs and parameters (needed by RAR training and attribution attacks);
    - ``multiplies_by_inputs``: whether the method multiplies by ``inputs - baseline``.

    Args:
        objective: the explained scalar, see :func:`~robattr.attribution.objectives.select_objective`.
    """

    supports_create_graph: ClassVar[bool] = False
    multiplies_by_inputs: ClassVar[bool] = False

    def __init__(self, objective: Objective = "logit") -> None:
        check_objective(objective)
        self.objective = objective

    def __call__(
        self, model: nn.Module, inputs: Tensor, target: Tensor | int, *, create_graph: bool = False, **kwargs
    ) -> Tensor:
        if not isinstance(inputs, Tensor) or inputs.dim() < 2:
            raise ValueError(
                f"Expected `inputs` to be a tensor of shape (N, ...), but got {getattr(inputs, 'shape', type(inputs))}"
            )
        if create_graph and not self.supports_create_graph:
            raise ValueError(
                f"Expected `create_graph=False` for {type(self).__name__}, which does not support it, but got True"
            )
        target = self._format_target(target, inputs)
        with torch.enable_grad():
            return self._attribute(model, inputs, target, create_graph=create_graph, **kwargs)

    @staticmethod
    def _format_target(target: Tensor | int, inputs: Tensor) -> Tensor:
        if isinstance(target, int):
            return torch.full((inputs.shape[0],), target, dtype=torch.long, device=inputs.device)
        if target.dim() != 1 or target.shape[0] != inputs.shape[0]:
            raise ValueError(f"Expected `target` of shape ({inputs.shape[0]},), but got {tuple(target.shape)}")
        return target.to(device=inputs.device, dtype=torch.long)

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, **kwargs) -> Tensor:
        raise NotImplementedError

    def objective_grad(self, model: nn.Module, points: Tensor, target: Tensor, create_graph: bool = False) -> Tensor:
        """Gradient of the per-sample objective at ``points`` ``(M, ...)`` for ``target`` ``(M,)``, one backward pass.

        If ``points`` is not part of a graph it is detached and marked as requiring grad.
        """
        if not points.requires_grad:
            points = points.detach().requires_grad_(True)
        score = select_objective(model(points), target, self.objective)
        (grad,) = torch.autograd.grad(score.sum(), points, create_graph=create_graph)
        return grad

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
