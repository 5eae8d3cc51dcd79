"""Iterative attacks on attributions: Ghorbani et al.'s top-k / mass-center / targeted attacks, the LENS-aware top-k
attack, and the reference code's random-sign walk.

All attacks are batched over images. The attack *direction* is taken on the softplus surrogate of the model (the
same parameters, see :func:`~robattr.models.softplus_surrogate`); the label check, the selection measure and every
returned map use the original model. Procedure (Ghorbani et al., AAAI 2019, section 3 and Algorithm 1; Chen et al.,
NeurIPS 2019, section 5; Kamath et al., AAAI 2024):

1. clean map ``a0 = I(x0)`` (channel-reduced ``sum_c |A|``, normalised to sum ``H * W``), and the fixed quantities
   of the objective (top-k mask of ``a0``; integer centre of mass of the surrogate map);
2. ``steps`` times, an L-inf step of PGD (:class:`~robattr.attacks.pgd.LinfStep`, Madry et al., ICLR 2018):
   ``x <- clip_bounds(x0 + clip_eps(x + step_size * sign(grad L) - x0))``; if the original model still predicts ``y``
   and the selection measure ``M(a0, I(x))`` (lower = more dissimilar) beats the sample's best, keep ``x`` as its
   best iterate. A label-changing iterate is never selected, but the walk continues from it;
3. for the random walk, ``restarts`` independent runs (one batch); per sample, the run with the lowest measure wins.

A sample whose every iterate changed the label, or never went below the clean measure, is a *failed* attack: its
result is the clean image and map (so similarity metrics score 1.0, RAR's convention); :class:`AttackResult` says
which samples failed, so evaluation reports the failure rate and the metrics with failures excluded too.

Degenerate top-k attacks: when all mass of a surrogate map lies inside the attack mask (an MNIST digit with fewer
non-zero pixels than ``k_attack`` under a zero-baseline IG, whose map is exactly zero on the black background), the
loss is the constant ``-H*W`` and its gradient is zero; float32 rounding would still give a direction. Such samples
get a zero direction and are flagged in :attr:`AttackResult.degenerate`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from robattr.attacks.base import AttackResult, MapAttack, SelectionMeasure, selection_measure
from robattr.attacks.pgd import LinfStep
from robattr.attribution import Attribution
from robattr.checks import check_choice, check_int, check_real
from robattr.metrics.functional import center_of_mass
from robattr.metrics.functional.masks import neighbourhood_mask, topk_mask
from robattr.models import softplus_surrogate
from robattr.progress import report

AttackObjective = Literal["topk", "lens_topk", "mass_center", "target", "random"]
ATTACK_OBJECTIVES: tuple[str, ...] = ("topk", "lens_topk", "mass_center", "target", "random")


class AttributionAttack(MapAttack):
    """Iterative attack on the attribution maps of correctly classified images (see the module docstring).

    Ghorbani et al. (AAAI 2019) for the ``topk``, ``mass_center`` and ``target`` objectives; Kamath et al. (AAAI
    2024) for ``lens_topk``; the random-sign walk and the Kendall selection of RAR (Chen et al., NeurIPS 2019). Each
    step calls :func:`robattr.progress.report` with the task ``"attack:<objective>"``.

    Args:
        attribution: the attacked method; needs ``supports_create_graph`` unless ``objective="random"``.
        objective: what the attack optimises (config name ``objective``): ``topk`` (push map mass out of the clean
            top-``k_attack`` pixels), ``lens_topk`` (out of their ``radius`` neighbourhood: Kamath et al.'s LENS-aware
            attack), ``mass_center`` (move the centre of mass), ``target`` (pull mass into a given mask) or
            ``random`` (the reference code's random-sign walk: the sign of Gaussian noise per pixel and channel,
            redrawn each step, selected by the measure). Not the explained scalar of an attribution method, which
            :data:`robattr.attribution.OBJECTIVES` lists.
        eps: L-inf radius in the units of the pixel bounds (``[0, 1]``: 0.3 for MNIST, 8/255 for Flower).
        step_size: step ``alpha``, positive.
        steps: iterations per run.
        restarts: independent runs of the ``random`` walk per image, run as one batch (the best by the measure is
            kept). The gradient objectives start at ``x`` and are deterministic, so their restarts would repeat the
            same run: they run once.
        k_attack: size of the top-k attack mask (RAR MNIST: 200; Flower: 1000).
        k_eval: ``k`` of the ``topk`` selection measure (RAR MNIST: 100).
        radius: dilation radius of the ``lens_topk`` mask.
        measure: selection measure, ``kendall`` (RAR / LENS), ``spearman``, ``topk`` or ``mass_center``.
        surrogate_beta: softplus ``beta`` of the surrogate.
        bounds: the valid pixel range ``(low, high)``: inputs must lie in it, iterates are clipped to it.

    Raises:
        TypeError: for a non-numeric ``eps`` / ``step_size`` / ``surrogate_beta``, a non-integer ``steps``,
            ``restarts``, ``k_attack``, ``k_eval`` or ``radius``.
        ValueError: for an unknown objective or measure, a NaN, negative or larger-than-the-range ``eps``, a
            non-positive ``step_size`` or ``surrogate_beta``, ``steps`` or ``restarts`` below 1, ``k_attack`` or
            ``k_eval`` below 1, a negative ``radius``, or an attribution without ``create_graph`` support for a
            gradient objective; at call time, for inputs outside the bounds, non-finite inputs, labels that are not
            ``(N,)``, or a missing or misshapen ``target_mask``.

    Example:
        >>> import torch
        >>> from robattr.attribution import Saliency
        >>> from robattr.models import MnistCNN
        >>> model = MnistCNN().eval()
        >>> x = torch.rand(2, 1, 28, 28); y = model(x).argmax(1)
        >>> attack = AttributionAttack(
        ...     Saliency(), "topk", eps=0.1, step_size=0.02, steps=3, k_attack=50, measure="topk", k_eval=50
        ... )
        >>> result = attack(model, x, y)
        >>> bool(((result.x_adv - x).abs().amax() <= 0.1 + 1e-6) and (model(result.x_adv).argmax(1) == y).all())
        True
        >>> result.clean_map.shape, result.success.shape
        (torch.Size([2, 28, 28]), torch.Size([2]))
    """

    def __init__(
        self,
        attribution: Attribution | None = None,
        objective: AttackObjective = "topk",
        eps: float = 0.3,
        step_size: float = 0.01,
        steps: int = 100,
        restarts: int = 1,
        k_attack: int = 200,
        k_eval: int = 100,
        radius: int = 1,
        measure: SelectionMeasure = "kendall",
        surrogate_beta: float = 1.0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        check_choice("objective", objective, ATTACK_OBJECTIVES)
        self.objective = objective
        super().__init__(attribution, eps, measure, k_eval, bounds)
        check_real("step_size", step_size, 0.0, open_min=True)
        check_int("steps", steps, minimum=1)
        check_int("restarts", restarts, minimum=1)
        check_int("k_attack", k_attack, minimum=1)
        check_int("radius", radius, minimum=0)
        check_real("surrogate_beta", surrogate_beta, 0.0, open_min=True)
        self.step_size, self.steps, self.restarts = step_size, steps, restarts
        self.k_attack, self.radius, self.surrogate_beta = k_attack, radius, surrogate_beta
        self._step = LinfStep(eps, step_size, self.bounds)

    def _check_attribution(self, attribution: Attribution | None) -> Attribution | None:
        attribution = super()._check_attribution(attribution)
        if attribution is not None and self.objective != "random" and not attribution.supports_create_graph:
            raise ValueError(
                f"Expected `attribution` to support create_graph for the {self.objective!r} objective, "
                f"but got {type(attribution).__name__}"
            )
        return attribution

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        """Attack ``x`` ``(N, C, H, W)`` in the pixel bounds with labels ``y`` ``(N,)`` (the model's predictions).

        ``target_mask`` ``(N, H, W)`` or ``(H, W)`` (bool or 0/1) is required by the ``target`` objective.
        """
        if self.objective == "target" and target_mask is None:
            raise ValueError(
                "Expected `target_mask` of shape (N, H, W) or (H, W) for the 'target' objective, but got None"
            )
        self.check_call(x, y)
        x0 = x.detach()
        clean_map = self.maps(model, x0, y).detach()
        k_eval = min(self.k_eval, clean_map[0].numel() - 1)
        clean_measure = selection_measure(self.measure, clean_map, clean_map, k_eval)
        state = self._objective_state(model, x0, y, clean_map, target_mask)
        runs = self.restarts if self.objective == "random" else 1
        best_x, best_m = self._search(model, x0, y, clean_map, clean_measure, state, k_eval, runs)
        degenerate = state.get("degenerate", torch.zeros_like(y, dtype=torch.bool))[: x0.shape[0]]
        success = best_m < clean_measure
        adv_map = clean_map.clone()
        if success.any():
            adv_map[success] = self.maps(model, best_x[success], y[success]).detach()
        return AttackResult(best_x, clean_map, adv_map, success, degenerate, best_m)

    def _objective_state(
        self, model: nn.Module, x0: Tensor, y: Tensor, clean_map: Tensor, target_mask: Tensor | None
    ) -> dict[str, Tensor]:
        n, h, w = clean_map.shape
        if self.objective in ("topk", "lens_topk"):
            mask = topk_mask(clean_map, min(self.k_attack, h * w - 1), validate_args=False)
            if self.objective == "lens_topk":
                mask = neighbourhood_mask(mask, self.radius, validate_args=False)
            return {"mask": mask.to(clean_map.dtype)}
        if self.objective == "mass_center":
            with softplus_surrogate(model, self.surrogate_beta):
                surrogate_map = self.maps(model, x0, y).detach()
            return {"center": center_of_mass(surrogate_map, validate_args=False).floor()}
        if self.objective == "target":
            mask = target_mask.to(device=x0.device, dtype=clean_map.dtype)
            if mask.shape not in ((h, w), (n, h, w)):
                raise ValueError(
                    f"Expected `target_mask` of shape ({n}, {h}, {w}) or ({h}, {w}), but got {tuple(mask.shape)}"
                )
            return {"mask": mask.expand(n, h, w)}
        return {}

    def _direction(self, model: nn.Module, x: Tensor, y: Tensor, state: dict[str, Tensor]) -> Tensor:
        """The ascent direction at ``x``: the gradient of the objective on the surrogate map (or a random sign)."""
        if self.objective == "random":
            return torch.randn_like(x).sign()
        x = x.detach().requires_grad_(True)
        with softplus_surrogate(model, self.surrogate_beta):
            maps = self.maps(model, x, y, create_graph=True)
        d = maps[0].numel()
        if self.objective in ("topk", "lens_topk"):
            inside = (maps * state["mask"]).flatten(1).sum(1)
            loss = -inside
            degenerate = inside.detach() >= d * (1 - 1e-6)
        elif self.objective == "mass_center":
            loss = (center_of_mass(maps, validate_args=False) - state["center"]).pow(2).sum(1)
            degenerate = torch.zeros_like(y, dtype=torch.bool)
        else:
            loss = (maps * state["mask"]).flatten(1).sum(1)
            degenerate = torch.zeros_like(y, dtype=torch.bool)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        state.setdefault("degenerate", degenerate.clone())
        return grad.sign() * (~degenerate).view(-1, *([1] * (x.dim() - 1)))

    def _search(
        self,
        model: nn.Module,
        x0: Tensor,
        y: Tensor,
        clean_map: Tensor,
        clean_measure: Tensor,
        state: dict[str, Tensor],
        k_eval: int,
        runs: int,
    ) -> tuple[Tensor, Tensor]:
        """``runs`` walks of ``steps`` steps as one batch; per sample, the best label-preserving iterate of all."""
        n = x0.shape[0]
        tile = (lambda t: t.repeat(runs, *([1] * (t.dim() - 1)))) if runs > 1 else (lambda t: t)
        xs0, ys, clean = tile(x0), tile(y), tile(clean_map)
        state.update({key: tile(value) for key, value in state.items()})
        best_x, best_m = xs0.clone(), tile(clean_measure).clone()
        x = xs0.clone()
        for i in range(self.steps):
            direction = self._direction(model, x, ys, state)
            with torch.no_grad():
                x = self._step.update(x, direction, xs0)
                keeps_label = model(x).argmax(1) == ys
            if keeps_label.any():
                idx = keeps_label.nonzero().squeeze(1)
                maps = self.maps(model, x[idx], ys[idx]).detach()
                m = selection_measure(self.measure, clean[idx], maps, k_eval)
                better = m < best_m[idx]
                best_x[idx[better]] = x[idx[better]]
                best_m[idx[better]] = m[better]
            report(f"attack:{self.objective}", i + 1, self.steps)
        if runs == 1:
            return best_x, best_m
        final_x, final_m = x0.clone(), clean_measure.clone()
        for r in range(runs):  # in run order, strictly better only: the first run reaching the minimum wins
            run_x, run_m = best_x[r * n : (r + 1) * n], best_m[r * n : (r + 1) * n]
            better = run_m < final_m
            final_x[better], final_m[better] = run_x[better], run_m[better]
        return final_x, final_m


__all__ = ["ATTACK_OBJECTIVES", "AttackObjective", "AttributionAttack"]
