"""robattr's IntegratedGradients loop before it moved onto the path-integral engine, kept as a test reference.

Step-major layout (all images at path point ``i``, then ``i + 1``), ``internal_batch_size // N`` points of every image
per forward pass (at least one), the weighted gradient sum multiplied by ``x - b`` once at the end.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attribution import riemann_points, select_objective


def reference_ig(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    baselines: Tensor | None = None,
    n_steps: int = 50,
    method: str = "riemann_right",
    objective: str = "logit",
    internal_batch_size: int | None = None,
    create_graph: bool = False,
) -> Tensor:
    """The former ``IntegratedGradients(...)(model, inputs, target, baselines=..., create_graph=...)``."""
    baselines = torch.zeros_like(inputs) if baselines is None else baselines.expand_as(inputs)
    alphas, weights = riemann_points(n_steps, method, inputs.device, inputs.dtype)
    n = inputs.shape[0]
    steps_per_chunk = len(alphas) if internal_batch_size is None else max(1, internal_batch_size // n)
    shape = (-1,) + (1,) * inputs.dim()
    delta = inputs - baselines
    if not (inputs.requires_grad or baselines.requires_grad):
        delta = delta.detach()
    total = torch.zeros_like(inputs)
    with torch.enable_grad():
        for start in range(0, len(alphas), steps_per_chunk):
            a = alphas[start : start + steps_per_chunk].view(shape)
            w = weights[start : start + steps_per_chunk].view(shape)
            points = (baselines.unsqueeze(0) + a * delta.unsqueeze(0)).flatten(0, 1)
            if not points.requires_grad:
                points = points.detach().requires_grad_(True)
            score = select_objective(model(points), target.repeat(len(a)), objective)
            (grads,) = torch.autograd.grad(score.sum(), points, create_graph=create_graph)
            total = total + (w * grads.view(len(a), *inputs.shape)).sum(0)
    return delta * total
