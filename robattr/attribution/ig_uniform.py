"""Integrated Gradients with uniform random references (Sturmfels et al., Distill 2020)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral


class IGUniform(PathIntegral):
    r"""IG averaged over ``R`` references drawn uniformly from the input space: ``x'_j ~ U[0, 1]^{C x H x W}``.

    .. math:: A = \frac{1}{R} \sum_j (x - x'_j) \odot \frac{1}{K} \sum_m \nabla S(x'_j + \alpha_m (x - x'_j)),
       \quad \alpha_m = \mathrm{linspace}(0, 1, K)

    robattr models take ``[0, 1]`` inputs and normalise inside, so uniform references in the input space are the
    code's "uniform in pixel space, then normalised". Fresh references on every call. ``R * K`` forward+backward passes
    per image (50 at the re-calibration defaults ``R = 10``, ``K = 5``).

    Args:
        n_references: ``R`` (default 10).
        n_points: ``K`` (default 5), ``linspace(0, 1, K)`` including both ends.
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref``; see :mod:`robattr.attribution.path`.
        internal_batch_size: maximum number of points per forward pass.
        objective: explained scalar.
        low: lower bound of the uniform references.
        high: upper bound of the uniform references.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> IGUniform(n_references=2, n_points=3)(model, torch.rand(5, 4), target=1).shape
        torch.Size([5, 4])
    """

    def __init__(
        self,
        n_references: int = 10,
        n_points: int = 5,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
        low: float = 0.0,
        high: float = 1.0,
    ) -> None:
        super().__init__(n_references, n_points, estimator, internal_batch_size, objective)
        if not low < high:
            raise ValueError(f"Expected `low` < `high`, but got low={low} and high={high}")
        self.low = low
        self.high = high

    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """``R`` uniform references per image, ``(N, R, ...)``."""
        shape = (inputs.shape[0], self.n_references) + tuple(inputs.shape[1:])
        return torch.rand(shape, device=inputs.device, dtype=inputs.dtype) * (self.high - self.low) + self.low
