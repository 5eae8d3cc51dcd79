"""Integrated Gradients with SmoothGrad references: paths from noisy copies of the input to the input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral


def noise_sigma(inputs: Tensor, noise_level: float) -> Tensor:
    """Per-image noise std ``noise_level * (max x - min x)``, shape ``(N, 1, ..., 1)``.

    Example:
        >>> noise_sigma(torch.tensor([[0.0, 1.0], [0.5, 0.5]]), 0.15)
        tensor([[0.1500],
                [0.0000]])
    """
    flat = inputs.detach().flatten(1)
    spread = flat.amax(1) - flat.amin(1)
    return (noise_level * spread).view(-1, *(1,) * (inputs.dim() - 1))


class IGSmoothGrad(PathIntegral):
    r"""IG from ``R`` noisy copies of the **same** image: ``x'_j = clip_[0,1](x + eps_j)``, ``eps_j ~ N(0, sigma^2)``.

    .. math:: A = \frac{1}{R} \sum_j (x - x'_j) \odot \frac{1}{K} \sum_m \nabla S(x'_j + \alpha_m (x - x'_j))

    with ``sigma = noise_level * (max x - min x)`` and ``alpha_m = linspace(0, 1, K)``. Deviations from the released
    code (``docs/recalibration.md``, section 3): its references for image ``b`` were noisy copies of *other* images of
    the batch (a reshape instead of a permute); here every image gets noise around itself, and ``sigma`` uses the
    image's own range rather than the whole batch's (so an image's map does not depend on its batch). Noise is added in
    the ``[0, 1]`` input space and clipped there, as the code does in pixel space.

    Args:
        n_references: ``R`` noisy references (default 10).
        n_points: ``K`` points per reference (default 5).
        noise_level: ``sigma`` relative to the image's value range (default 0.15).
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref``.
        internal_batch_size: maximum number of points per forward pass.
        objective: explained scalar.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> IGSmoothGrad(n_references=2, n_points=3)(model, torch.rand(5, 4), target=1).shape
        torch.Size([5, 4])
    """

    def __init__(
        self,
        n_references: int = 10,
        n_points: int = 5,
        noise_level: float = 0.15,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(n_references, n_points, estimator, internal_batch_size, objective)
        if not noise_level >= 0:
            raise ValueError(f"Expected `noise_level` to be a non-negative float, but got {noise_level}")
        self.noise_level = noise_level

    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """``R`` clipped noisy copies of each image, ``(N, R, ...)``."""
        x = inputs.detach().unsqueeze(1)
        sigma = noise_sigma(inputs, self.noise_level).unsqueeze(1)
        noise = torch.randn((x.shape[0], self.n_references) + tuple(x.shape[2:]), device=x.device, dtype=x.dtype)
        return (x + sigma * noise).clamp(0.0, 1.0)
