"""Projected gradient descent (Madry et al., ICLR 2018): one loop over interchangeable L-inf / L2 steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attacks.base import check_bounds, check_labels
from robattr.checks import check_bool, check_choice, check_in_bounds, check_int, check_real, check_tensor
from robattr.progress import report

Norm = Literal["linf", "l2"]
LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


def cross_entropy_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Per-sample cross-entropy ``(N,)``: the default quantity PGD maximises."""
    return F.cross_entropy(model(x), y, reduction="none")


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view((-1,) + (1,) * (like.dim() - 1))


class Step:
    """One ascent step of an attack and the projection back onto its ball, inside the pixel bounds.

    The steps of Madry et al. (ICLR 2018, section 2) as in MadryLab's ``robustness`` ``attack_steps.py``: PGD and the
    attribution attacks share them, so both take the same step.

    Args:
        eps: radius of the ball.
        step_size: step length ``alpha``.
        bounds: the valid pixel range ``(low, high)`` every iterate is clipped to.
    """

    def __init__(self, eps: float, step_size: float, bounds: tuple[float, float] = (0.0, 1.0)) -> None:
        self.eps, self.step_size, self.bounds = eps, step_size, bounds

    def random_init(self, x: Tensor) -> Tensor:
        """A random point of the ball around ``x`` (not yet clipped to the bounds)."""
        raise NotImplementedError

    def step(self, x: Tensor, grad: Tensor) -> Tensor:
        """``x`` moved along the ascent direction of ``grad`` (not yet projected)."""
        raise NotImplementedError

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        """``x`` projected onto the ball around ``x0``."""
        raise NotImplementedError

    def clip(self, x: Tensor, x0: Tensor) -> Tensor:
        """``x`` projected onto the ball around ``x0``, then clipped to the pixel bounds."""
        return self.project(x, x0).clamp(*self.bounds)

    def update(self, x: Tensor, grad: Tensor, x0: Tensor) -> Tensor:
        """One full iteration: step along ``grad``, project onto the ball around ``x0``, clip to the bounds."""
        return self.clip(self.step(x, grad), x0)


class LinfStep(Step):
    """Signed-gradient ascent step and projection onto the L-inf ball (Madry et al. 2018).

    Example:
        >>> step = LinfStep(eps=0.1, step_size=0.25)
        >>> step.update(torch.tensor([0.5, 0.95]), torch.tensor([-2.0, 3.0]), torch.tensor([0.5, 0.95]))
        tensor([0.4000, 1.0000])
    """

    def random_init(self, x: Tensor) -> Tensor:
        return x + torch.empty_like(x).uniform_(-self.eps, self.eps)

    def step(self, x: Tensor, grad: Tensor) -> Tensor:
        return x + self.step_size * grad.sign()

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        return x0 + (x - x0).clamp(-self.eps, self.eps)


class L2Step(Step):
    """Normalised-gradient ascent step and projection onto the L2 ball (Madry et al. 2018)."""

    def random_init(self, x: Tensor) -> Tensor:
        d = torch.randn_like(x)
        norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        radius = torch.rand(x.shape[0], device=x.device, dtype=x.dtype) * self.eps
        return x + d * _bcast(radius / norm, x)

    def step(self, x: Tensor, grad: Tensor) -> Tensor:
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        return x + self.step_size * grad / _bcast(norm, grad)

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        d = x - x0
        norm = d.flatten(1).norm(dim=1)
        factor = (self.eps / norm.clamp_min(1e-12)).clamp(max=1.0)
        return x0 + d * _bcast(factor, d)


STEPS: dict[str, type[Step]] = {"linf": LinfStep, "l2": L2Step}


class PGD:
    """Projected gradient ascent on a per-sample loss (Madry et al., ICLR 2018), batched, with random start, restarts
    and best iterate.

    Each iteration: ``x <- clip_bounds(project_eps(x + step(grad)))``. Every sample keeps its own best iterate (the
    highest loss seen, including the start point), so a later worse step never degrades the result. Restarts rerun
    the loop from a fresh random start and keep, per sample, the best over runs. Each iteration calls
    :func:`robattr.progress.report` with the task ``"pgd"`` (step ``i`` of ``restarts * steps``, counted across
    restarts).

    Args:
        eps: radius of the threat model, in the units of the pixel bounds (0.3 for MNIST, 8/255 for Flower / CIFAR);
            for ``linf`` at most ``high - low`` (a larger ball is the whole image space).
        step_size: step length (``alpha``), positive and finite.
        steps: number of iterations (0 evaluates the start point only).
        norm: ``linf`` (signed gradient) or ``l2`` (normalised gradient).
        random_start: start from a uniform random point in the ball (Madry) instead of ``x``.
        restarts: number of independent runs (>= 1).
        keep_best: return the per-sample best iterate; ``False`` returns the last iterate (RAR's inner loop).
        bounds: the valid pixel range ``(low, high)`` (default ``(0, 1)``): inputs outside it are an error, iterates
            are clipped to it. Use ``(0, 255)`` for 8-bit images.

    Call:
        ``pgd(model, x, y, loss_fn=None)`` returns ``x_adv`` of the shape of ``x``, detached. ``loss_fn(model,
        x_adv, y) -> (N,)`` is the per-sample quantity to maximise (default: cross-entropy).

    Raises:
        TypeError: for a non-numeric ``eps`` / ``step_size``, a non-integer ``steps`` / ``restarts``, or malformed
            ``bounds``.
        ValueError: for a NaN, negative or (``linf``) larger-than-the-range ``eps``, a non-positive or non-finite
            ``step_size``, ``steps < 0``, ``restarts < 1``, an unknown ``norm``, ``bounds`` with ``low >= high``; at
            call time, for inputs ``x`` outside the bounds or non-finite, or labels ``y`` that are not ``(N,)``.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(5, 1, 2, 2), torch.randint(0, 3, (5,))
        >>> x_adv = PGD(eps=0.1, step_size=0.05, steps=5)(model, x, y)
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6) and bool(x_adv.min() >= 0) and bool(x_adv.max() <= 1)
        True
        >>> PGD(eps=0.3)(model, x * 255, y)
        Traceback (most recent call last):
        ...
        ValueError: Expected `x` to lie in [0.0, 1.0] (the attack's pixel bounds), but got values in ...
    """

    def __init__(
        self,
        eps: float = 0.3,
        step_size: float = 0.01,
        steps: int = 40,
        norm: Norm = "linf",
        random_start: bool = True,
        restarts: int = 1,
        keep_best: bool = True,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        check_choice("norm", norm, sorted(STEPS))
        self.bounds = check_bounds(bounds)
        span = self.bounds[1] - self.bounds[0] if norm == "linf" else None
        check_real("eps", eps, 0.0, span)
        check_real("step_size", step_size, 0.0, open_min=True)
        check_int("steps", steps, minimum=0)
        check_int("restarts", restarts, minimum=1)
        check_bool("random_start", random_start)
        check_bool("keep_best", keep_best)
        self.eps, self.step_size, self.steps, self.norm = eps, step_size, steps, norm
        self.random_start, self.restarts, self.keep_best = random_start, restarts, keep_best
        self._step = STEPS[norm](eps, step_size, self.bounds)

    def scaled(self, factor: float) -> PGD:
        """The same attack with ``eps`` and ``step_size`` multiplied by ``factor`` in ``(0, 1]`` (eps warm-up)."""
        check_real("factor", factor, 0.0, 1.0, open_min=True)
        return PGD(
            self.eps * factor,
            self.step_size * factor,
            self.steps,
            self.norm,
            self.random_start,
            self.restarts,
            self.keep_best,
            self.bounds,
        )

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None = None) -> Tensor:
        check_tensor("x", x)
        if x.numel():
            check_in_bounds("x", x, *self.bounds)
        check_labels(y, x.shape[0])
        loss_fn = loss_fn or cross_entropy_loss
        x0 = x.detach()
        best_x, best_loss = x0.clone(), torch.full((x0.shape[0],), -float("inf"), device=x0.device)
        with torch.enable_grad():
            for restart in range(self.restarts):
                run_x, run_loss = self._run(model, x0, y, loss_fn, restart)
                better = run_loss > best_loss
                best_x[better], best_loss[better] = run_x[better], run_loss[better]
        return best_x

    def _run(self, model: nn.Module, x0: Tensor, y: Tensor, loss_fn: LossFn, restart: int) -> tuple[Tensor, Tensor]:
        x = self._step.clip(self._step.random_init(x0), x0) if self.random_start and self.eps > 0 else x0.clone()
        best_x, best_loss = x.clone(), torch.full((x0.shape[0],), -float("inf"), device=x0.device)
        for i in range(self.steps + 1):
            if i == self.steps and i > 0 and not self.keep_best and self.restarts == 1:
                # the last iterate is returned as it is: its loss would only rank restarts (one loss_fn call saved,
                # a whole coarse IG for RAR's inner maximisation)
                return x.detach(), torch.zeros(x0.shape[0], device=x0.device)
            x.requires_grad_(True)
            loss = loss_fn(model, x, y)
            if loss.shape != (x0.shape[0],):
                raise ValueError(
                    f"Expected `loss_fn` to return per-sample losses of shape ({x0.shape[0]},), but got "
                    f"{tuple(loss.shape)}"
                )
            with torch.no_grad():
                better = loss.detach() > best_loss
                best_x[better], best_loss[better] = x.detach()[better], loss.detach()[better]
            if i == self.steps:
                break
            (grad,) = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                x = self._step.update(x.detach(), grad, x0)
            report("pgd", restart * self.steps + i + 1, self.restarts * self.steps)
        if not self.keep_best:
            return x.detach(), loss.detach()
        return best_x, best_loss

    def __repr__(self) -> str:
        return (
            f"PGD(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, norm={self.norm!r}, "
            f"random_start={self.random_start}, restarts={self.restarts}, keep_best={self.keep_best}, "
            f"bounds={self.bounds})"
        )
