"""Projected gradient descent: one loop over interchangeable L-inf / L2 steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Norm = Literal["linf", "l2"]
LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


def cross_entropy_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Per-sample cross-entropy ``(N,)``: the default quantity PGD maximises."""
    return F.cross_entropy(model(x), y, reduction="none")


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view((-1,) + (1,) * (like.dim() - 1))


class LinfStep:
    """Signed-gradient ascent step and projection onto the L-inf ball (Madry et al. 2018)."""

    def __init__(self, eps: float, step_size: float) -> None:
        self.eps, self.step_size = eps, step_size

    def random_init(self, x: Tensor) -> Tensor:
        return x + torch.empty_like(x).uniform_(-self.eps, self.eps)

    def step(self, x: Tensor, grad: Tensor) -> Tensor:
        return x + self.step_size * grad.sign()

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        return x0 + (x - x0).clamp(-self.eps, self.eps)


class L2Step:
    """Normalised-gradient ascent step and projection onto the L2 ball."""

    def __init__(self, eps: float, step_size: float) -> None:
        self.eps, self.step_size = eps, step_size

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


STEPS = {"linf": LinfStep, "l2": L2Step}


class PGD:
    """Projected gradient ascent on a per-sample loss, batched, with random start, restarts and best iterate.

    Each iteration: ``x <- clip_[0,1](project_eps(x + step(grad)))``. Every sample keeps its own best iterate (the
    highest loss seen, including the start point), so a later worse step never degrades the result. Restarts rerun
    the loop from a fresh random start and keep, per sample, the best over runs.

    Args:
        eps: radius of the threat model, in ``[0, 1]`` pixel units (0.3 for MNIST, 8/255 for Flower / CIFAR).
        step_size: step length (``alpha``).
        steps: number of iterations.
        norm: ``linf`` (signed gradient) or ``l2`` (normalised gradient).
        random_start: start from a uniform random point in the ball (Madry) instead of ``x``.
        restarts: number of independent runs (>= 1).
        keep_best: return the per-sample best iterate; ``False`` returns the last iterate (RAR's inner loop).
        clip_min: lower bound of the valid input range.
        clip_max: upper bound of the valid input range.

    Call:
        ``pgd(model, x, y, loss_fn=None)`` returns ``x_adv`` of the shape of ``x``, detached. ``loss_fn(model,
        x_adv, y) -> (N,)`` is the per-sample quantity to maximise (default: cross-entropy).

    Raises:
        ValueError: for a negative ``eps``, non-positive ``step_size``, ``steps < 0``, ``restarts < 1`` or an unknown
            ``norm``.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(5, 1, 2, 2), torch.randint(0, 3, (5,))
        >>> x_adv = PGD(eps=0.1, step_size=0.05, steps=5)(model, x, y)
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6) and bool(x_adv.min() >= 0) and bool(x_adv.max() <= 1)
        True
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
        clip_min: float = 0.0,
        clip_max: float = 1.0,
    ) -> None:
        if eps < 0:
            raise ValueError(f"Expected `eps` to be a non-negative float, but got {eps}")
        if step_size <= 0:
            raise ValueError(f"Expected `step_size` to be a positive float, but got {step_size}")
        if steps < 0:
            raise ValueError(f"Expected `steps` to be a non-negative integer, but got {steps}")
        if restarts < 1:
            raise ValueError(f"Expected `restarts` to be a positive integer, but got {restarts}")
        if norm not in STEPS:
            raise ValueError(f"Expected `norm` to be one of {sorted(STEPS)}, but got {norm!r}")
        if clip_min >= clip_max:
            raise ValueError(f"Expected `clip_min` < `clip_max`, but got {clip_min} and {clip_max}")
        self.eps, self.step_size, self.steps, self.norm = eps, step_size, steps, norm
        self.random_start, self.restarts, self.keep_best = random_start, restarts, keep_best
        self.clip_min, self.clip_max = clip_min, clip_max
        self._step = STEPS[norm](eps, step_size)

    def scaled(self, factor: float) -> PGD:
        """The same attack with ``eps`` and ``step_size`` multiplied by ``factor`` in ``(0, 1]`` (eps warm-up)."""
        if not 0 < factor <= 1:
            raise ValueError(f"Expected `factor` to be in (0, 1], but got {factor}")
        return PGD(
            self.eps * factor,
            self.step_size * factor,
            self.steps,
            self.norm,
            self.random_start,
            self.restarts,
            self.keep_best,
            self.clip_min,
            self.clip_max,
        )

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None = None) -> Tensor:
        loss_fn = loss_fn or cross_entropy_loss
        x0 = x.detach()
        best_x, best_loss = x0.clone(), torch.full((x0.shape[0],), -float("inf"), device=x0.device)
        with torch.enable_grad():
            for _ in range(self.restarts):
                run_x, run_loss = self._run(model, x0, y, loss_fn)
                better = run_loss > best_loss
                best_x[better], best_loss[better] = run_x[better], run_loss[better]
        return best_x

    def _clip(self, x: Tensor, x0: Tensor) -> Tensor:
        return self._step.project(x, x0).clamp(self.clip_min, self.clip_max)

    def _run(self, model: nn.Module, x0: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        x = self._clip(self._step.random_init(x0), x0) if self.random_start and self.eps > 0 else x0.clone()
        best_x, best_loss = x.clone(), torch.full((x0.shape[0],), -float("inf"), device=x0.device)
        for i in range(self.steps + 1):
            x.requires_grad_(True)
            loss = loss_fn(model, x, y)
            if loss.shape != (x0.shape[0],):
                raise ValueError(
                    f"Expected `loss_fn` to return per-sample losses of shape ({x0.shape[0]},), but got {tuple(loss.shape)}"
                )
            with torch.no_grad():
                better = loss.detach() > best_loss
                best_x[better], best_loss[better] = x.detach()[better], loss.detach()[better]
            if i == self.steps:
                break
            (grad,) = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                x = self._clip(self._step.step(x.detach(), grad), x0)
        if not self.keep_best:
            return x.detach(), loss.detach()
        return best_x, best_loss

    def __repr__(self) -> str:
        return (
            f"PGD(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, norm={self.norm!r}, "
            f"random_start={self.random_start}, restarts={self.restarts}, keep_best={self.keep_best})"
        )
