"""Integrated Gradients, batched over images and path points, differentiable."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral

Rule = Literal["riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid"]
RULES: tuple[str, ...] = ("riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid")


def riemann_points(
    n_steps: int, rule: Rule, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> tuple[Tensor, Tensor]:
    """Path coefficients ``alpha`` and weights ``w`` (summing to 1) of an ``n_steps`` Riemann rule on ``[0, 1]``.

    ``riemann_right`` is RAR's rule: ``alpha_i = i / m`` for ``i = 1..m``, ``w_i = 1 / m`` (the last point is the
    input, no point at the baseline). Same conventions as captum's ``approximation_methods``.

    Example:
        >>> riemann_points(4, "riemann_right")[0]
        tensor([0.2500, 0.5000, 0.7500, 1.0000])
    """
    if rule not in RULES:
        raise ValueError(f"Expected `method` to be one of {list(RULES)}, but got {rule!r}")
    m = n_steps
    if rule == "riemann_trapezoid":
        if m < 2:
            raise ValueError(f"Expected `n_steps` >= 2 for the trapezoid rule, but got {m}")
        alphas = torch.linspace(0, 1, m, device=device, dtype=dtype)
        w = torch.full((m,), 1.0 / (m - 1), device=device, dtype=dtype)
        w[0] = w[-1] = 0.5 / (m - 1)
        return alphas, w
    offset = {"riemann_right": 1.0, "riemann_left": 0.0, "riemann_middle": 0.5}[rule]
    alphas = (torch.arange(m, device=device, dtype=dtype or torch.float32) + offset) / m
    return alphas, torch.full((m,), 1.0 / m, device=device, dtype=dtype or torch.float32)


class IntegratedGradients(PathIntegral):
    r"""Integrated Gradients (Sundararajan et al. 2017) with every path point of the batch in one pass.

    .. math:: A = (x - b) \odot \sum_i w_i \, \nabla S(b + \alpha_i (x - b))

    with RAR's right Riemann rule by default (``alpha_i = i/m``, ``w_i = 1/m``). The ``m * N`` path points go through
    the network as one tensor, in chunks of at most ``internal_batch_size`` points. With ``create_graph=True`` the
    result is differentiable w.r.t. the inputs, the baselines and the parameters: RAR's IG-NORM regulariser and the
    attribution attacks differentiate through it. Completeness: ``A.sum() ~= S(x) - S(b)`` up to the Riemann error.

    IG is a :class:`~robattr.attribution.path.PathIntegral` with one reference (the baseline) and the Riemann points
    with their weights, so re-calibration applies to it too (``estimator="valid_ip"`` or
    :class:`~robattr.attribution.Recalibrated`); the re-calibration code itself never re-calibrates IG. Its IG was the
    alpha-weighted sum ``sum_m alpha_m (x - x') g`` at HEAD; robattr's is the standard mean form of Sundararajan et al.

    Args:
        n_steps: number of path points ``m`` (RAR: 50 in training, 100 in evaluation).
        method: Riemann rule, one of ``riemann_right`` (default), ``riemann_left``, ``riemann_middle``,
            ``riemann_trapezoid`` (weights sum to 1; captum's trapezoid weights sum to ``(m - 1) / m``).
        baseline: constant baseline value used when ``baselines`` is not passed at call time (0 = black image).
        internal_batch_size: maximum number of path points per forward pass (``None``: all at once).
        objective: explained scalar (``logit`` default; RAR training uses ``loss``).
        estimator: ``vanilla`` (default, the path integral above), ``valid_ip`` or ``valid_ref`` (re-calibration).

    Call args:
        model, inputs ``(N, ...)``, target ``(N,)`` or int, ``baselines`` (tensor broadcastable to ``inputs``,
        optional), ``create_graph``.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> x = torch.rand(4, 3)
        >>> ig = IntegratedGradients(n_steps=8)
        >>> attr = ig(model, x, target=1)
        >>> bool(torch.allclose(attr.sum(1), model(x)[:, 1] - model(torch.zeros_like(x))[:, 1], atol=1e-5))
        True
    """

    supports_create_graph = True
    multiplies_by_inputs = True

    def __init__(
        self,
        n_steps: int = 50,
        method: Rule = "riemann_right",
        baseline: float = 0.0,
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
        estimator: Estimator = "vanilla",
    ) -> None:
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"Expected `n_steps` to be a positive integer, but got {n_steps}")
        if internal_batch_size is not None and internal_batch_size < 1:
            raise ValueError(
                f"Expected `internal_batch_size` to be a positive integer or None, but got {internal_batch_size}"
            )
        riemann_points(n_steps, method)  # validates the rule
        super().__init__(1, n_steps, estimator, internal_batch_size, objective)
        self.n_steps = n_steps
        self.method = method
        self.baseline = baseline

    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """The constant baseline as the single reference, ``(N, 1, ...)``."""
        return torch.full_like(inputs, self.baseline).unsqueeze(1)

    def alphas(self, inputs: Tensor, n_references: int) -> Tensor:
        """The Riemann rule's points, ``(1, R, n_steps)``."""
        alphas, _ = riemann_points(self.n_steps, self.method, inputs.device, inputs.dtype)
        return alphas.expand(1, n_references, self.n_steps)

    def point_weights(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The Riemann rule's weights, ``(n_steps,)``."""
        return riemann_points(self.n_steps, self.method, device, dtype)[1]

    def _attribute(
        self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, baselines: Tensor | None = None
    ) -> Tensor:
        return self.estimate(model, inputs, target, self.estimator, create_graph=create_graph, baselines=baselines)

    def estimate(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        estimator: Estimator,
        *,
        create_graph: bool = False,
        baselines: Tensor | None = None,
    ) -> Tensor:
        """IG with ``estimator``; ``vanilla`` runs :meth:`integrate` directly (see :meth:`PathIntegral.estimate`)."""
        if baselines is None:
            baselines = torch.full_like(inputs, self.baseline)
        baselines = baselines.expand_as(inputs)
        if estimator != "vanilla":
            return super().estimate(
                model, inputs, target, estimator, create_graph=create_graph, references=baselines.unsqueeze(1)
            )
        alphas, weights = riemann_points(self.n_steps, self.method, inputs.device, inputs.dtype)
        total = self.integrate(model, inputs, baselines, target, alphas, weights, create_graph)
        return (inputs - baselines) * total

    def integrate(
        self,
        model: nn.Module,
        inputs: Tensor,
        baselines: Tensor,
        target: Tensor,
        alphas: Tensor,
        weights: Tensor,
        create_graph: bool = False,
    ) -> Tensor:
        """``sum_i w_i grad S(b + alpha_i (x - b))``, shape of ``inputs``; path points laid out step-major."""
        n = inputs.shape[0]
        steps_per_chunk = len(alphas) if self.internal_batch_size is None else max(1, self.internal_batch_size // n)
        shape = (-1,) + (1,) * inputs.dim()
        delta = inputs - baselines
        if not (inputs.requires_grad or baselines.requires_grad):
            delta = delta.detach()
        total = torch.zeros_like(inputs)
        for start in range(0, len(alphas), steps_per_chunk):
            a = alphas[start : start + steps_per_chunk].view(shape)
            w = weights[start : start + steps_per_chunk].view(shape)
            points = (baselines.unsqueeze(0) + a * delta.unsqueeze(0)).flatten(0, 1)
            grads = self.objective_grad(model, points, target.repeat(len(a)), create_graph=create_graph)
            total = total + (w * grads.view(len(a), *inputs.shape)).sum(0)
        return total
