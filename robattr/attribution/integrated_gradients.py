"""Integrated Gradients on the shared path-integral engine: batched over images and path points, differentiable."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral, check_positive_int
from robattr.checks import check_real, check_tensor

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
    r"""Integrated Gradients (Sundararajan et al., ICML 2017, eq. 1 and its Riemann sum in section 3).

    .. math:: A = (x - b) \odot \sum_i w_i \, \nabla S(b + \alpha_i (x - b))

    with RAR's right Riemann rule by default (``alpha_i = i/m``, ``w_i = 1/m``; Chen et al., NeurIPS 2019). IG is the
    :class:`~robattr.attribution.path.PathIntegral` with one reference (the baseline ``b``) and the rule's points
    and weights, so it runs on the same engine as the other integral methods: the ``m * N`` path points of a batch go
    through the network together, in forward passes of at most ``internal_batch_size`` points. With
    ``create_graph=True`` the result is differentiable w.r.t. the inputs, the baselines and the parameters: RAR's
    IG-NORM regulariser and the attribution attacks differentiate through it. Completeness: ``A.sum() ~= S(x) - S(b)``
    up to the Riemann error.

    Re-calibration applies to IG too (``estimator="valid_ip"`` or :class:`~robattr.attribution.Recalibrated`,
    see ``docs/recalibration.md``); the re-calibration code itself never re-calibrates IG, and its IG was the
    alpha-weighted sum ``sum_m alpha_m (x - x') g``; robattr's is the standard mean form of Sundararajan et al.

    Args:
        n_steps: number of path points ``m`` (RAR: 50 in training, 100 in evaluation).
        method: Riemann rule, one of ``riemann_right`` (default), ``riemann_left``, ``riemann_middle``,
            ``riemann_trapezoid`` (weights sum to 1; captum's trapezoid weights sum to ``(m - 1) / m``).
        baseline: constant baseline value used when ``baselines`` is not passed at call time (0 = black image).
        internal_batch_size: upper bound on the points of one forward pass (``None``: all ``m * N`` at once), see
            :class:`~robattr.attribution.path.PathIntegral`. Unlike captum, which raises the batch to ``N`` when
            ``internal_batch_size < N``, robattr then splits the images into blocks: the bound always holds.
        objective: explained scalar (``logit`` default; RAR training uses ``loss``).
        estimator: ``vanilla`` (default, the path integral above), ``valid_ip`` or ``valid_ref`` (re-calibration).

    Call args:
        model, inputs ``(N, ...)``, target ``(N,)`` or int, ``baselines`` (tensor broadcastable to ``inputs``,
        optional), ``create_graph``.

    Raises:
        ValueError: for a non-positive ``n_steps`` or ``internal_batch_size``, an unknown ``method``, ``objective``
            or ``estimator``, a non-finite ``baseline``, or ``baselines`` that do not broadcast to the inputs.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> x = torch.rand(4, 3)
        >>> ig = IntegratedGradients(n_steps=8)
        >>> attr = ig(model, x, target=1)
        >>> bool(torch.allclose(attr.sum(1), model(x)[:, 1] - model(torch.zeros_like(x))[:, 1], atol=1e-5))
        True
        >>> attr.shape  # captum's contract: the shape of the inputs
        torch.Size([4, 3])
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
        check_positive_int("n_steps", n_steps)
        riemann_points(n_steps, method)  # validates the rule
        check_real("baseline", baseline)
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

    def plan(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        references: Tensor | None = None,
        alphas: Tensor | None = None,
        baselines: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The engine's plan, with ``baselines`` (broadcastable to ``inputs``) as the single reference if given."""
        if baselines is not None:
            if references is not None:
                raise ValueError("Expected either `baselines` or `references`, but got both")
            check_tensor("baselines", baselines)
            try:
                references = baselines.expand_as(inputs).unsqueeze(1)
            except RuntimeError:
                raise ValueError(
                    f"Expected `baselines` broadcastable to the inputs' shape {tuple(inputs.shape)}, but got "
                    f"{tuple(baselines.shape)}"
                ) from None
        return super().plan(model, inputs, target, references, alphas)
