"""Attacks on attributions: Ghorbani et al.'s top-k / mass-center / targeted attacks, the LENS-aware top-k attack,
and random sign perturbations (one-shot and the reference code's iterative walk).

All attacks are batched over images. The attack *direction* is taken on the softplus surrogate of the model (the
same parameters, see :func:`~robattr.models.softplus_surrogate`); the label check, the selection measure and every
returned map use the original model. Procedure (Ghorbani et al. AAAI 2019; RAR; Kamath et al. AAAI 2024):

1. clean map ``a0 = I(x0)`` (channel-reduced ``sum_c |A|``, normalised to sum ``H * W``), and the fixed quantities
   of the objective (top-k mask of ``a0``; integer centre of mass of the surrogate map);
2. ``steps`` times: ``x <- clip_[0,1](x0 + clip_eps(x + step_size * sign(grad L) - x0))``; if the original model
   still predicts ``y`` and the selection measure ``M(a0, I(x))`` (lower = more dissimilar) beats the sample's best,
   keep ``x`` as its best iterate. A label-changing iterate is never selected, but the walk continues from it;
3. ``restarts`` independent runs; per sample, the run with the lowest measure wins.

A sample whose every iterate changed the label, or never went below the clean measure, is a *failed* attack: its
result is the clean image and map (so similarity metrics score 1.0, RAR's convention); :class:`AttackResult` says
which samples failed, so evaluation reports the failure rate and the metrics with failures excluded too.

Degenerate top-k attacks (spec §7.1): when all mass of a surrogate map lies inside the attack mask, the loss is the
constant ``-H*W`` and its gradient is zero; float32 rounding would still give a direction. Such samples get a zero
direction and are flagged in :attr:`AttackResult.degenerate`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from robattr.attribution import Attribution, attribution_map
from robattr.metrics.functional.masks import neighbourhood_mask, topk_mask
from robattr.models import softplus_surrogate

AttackObjective = Literal["topk", "lens_topk", "mass_center", "target", "random"]
SelectionMeasure = Literal["kendall", "spearman", "topk", "mass_center"]
OBJECTIVES = ("topk", "lens_topk", "mass_center", "target", "random")
MEASURES = ("kendall", "spearman", "topk", "mass_center")


@dataclass
class AttackResult:
    """What an attribution attack returns, every tensor batched over the ``N`` images.

    Attributes:
        x_adv: selected perturbed images ``(N, C, H, W)`` (the clean image where the attack failed).
        clean_map: normalised clean maps ``(N, H, W)`` on the original model.
        adv_map: normalised maps of ``x_adv`` ``(N, H, W)`` (the clean map where the attack failed).
        success: ``(N,)`` bool, a label-preserving iterate improved on the clean measure.
        degenerate: ``(N,)`` bool, the top-k objective had a zero gradient at the clean image (§7.1 of the spec).
        measure: ``(N,)`` selection measure of the selected iterate (the clean value where the attack failed).
    """

    x_adv: Tensor
    clean_map: Tensor
    adv_map: Tensor
    success: Tensor
    degenerate: Tensor
    measure: Tensor


def center_of_mass(maps: Tensor) -> Tensor:
    """Attribution-weighted mean (row, col) of each ``(N, H, W)`` map, ``(N, 2)``; differentiable."""
    n, h, w = maps.shape
    rows = torch.arange(h, device=maps.device, dtype=maps.dtype).view(1, h, 1)
    cols = torch.arange(w, device=maps.device, dtype=maps.dtype).view(1, 1, w)
    total = maps.flatten(1).sum(1).clamp_min(1e-12)
    return torch.stack([(maps * rows).flatten(1).sum(1) / total, (maps * cols).flatten(1).sum(1) / total], 1)


def selection_measure(name: SelectionMeasure, clean: Tensor, perturbed: Tensor, k: int) -> Tensor:
    """Per-sample similarity ``(N,)`` between clean and perturbed maps; lower means a more successful attack.

    ``kendall`` (tau-b; RAR and LENS), ``spearman``, ``topk`` (intersection at ``k``; Ghorbani's default) or
    ``mass_center`` (minus the integer centre-of-mass shift, always <= 0).
    """
    from robattr.metrics import functional as MF

    if name == "kendall":
        return MF.kendall_tau(clean, perturbed, reduction="none")
    if name == "spearman":
        return MF.spearman(clean, perturbed, reduction="none")
    if name == "topk":
        return MF.topk_intersection(clean, perturbed, k, reduction="none")
    return -MF.center_of_mass_shift(clean, perturbed, reduction="none")


class AttributionAttack:
    """Iterative attack on the attribution maps of correctly classified images (see the module docstring).

    Args:
        attribution: the attacked method; needs ``supports_create_graph`` unless ``objective="random"``.
        objective: ``topk`` (push map mass out of the clean top-``k_attack`` pixels), ``lens_topk`` (out of their
            ``radius`` neighbourhood: Kamath et al.'s LENS-aware attack), ``mass_center`` (move the centre of mass),
            ``target`` (pull mass into a given mask) or ``random`` (the reference code's random-sign walk: the sign
            of Gaussian noise per pixel and channel, redrawn each step, selected by the measure).
        eps: L-inf radius in ``[0, 1]`` pixel units.
        step_size: step ``alpha``.
        steps: iterations per run.
        restarts: independent runs per image (the best by the measure is kept).
        k_attack: size of the top-k attack mask (RAR MNIST: 200; Flower: 1000).
        k_eval: ``k`` of the ``topk`` selection measure (RAR MNIST: 100).
        radius: dilation radius of the ``lens_topk`` mask.
        measure: selection measure, ``kendall`` (RAR / LENS), ``spearman``, ``topk`` or ``mass_center``.
        surrogate_beta: softplus ``beta`` of the surrogate.

    Raises:
        ValueError: for an unknown objective or measure, a negative ``eps``, a non-positive ``step_size``, ``steps``
            or ``restarts`` below 1, or an attribution without ``create_graph`` support for a gradient objective.

    Example:
        >>> import torch
        >>> from robattr.attribution import Saliency
        >>> from robattr.models import MnistCNN
        >>> model = MnistCNN().eval()
        >>> x = torch.rand(2, 1, 28, 28); y = model(x).argmax(1)
        >>> attack = AttributionAttack(Saliency(), "topk", eps=0.1, step_size=0.02, steps=3, k_attack=50, measure="topk", k_eval=50)
        >>> result = attack(model, x, y)
        >>> bool(((result.x_adv - x).abs().amax() <= 0.1 + 1e-6) and (model(result.x_adv).argmax(1) == y).all())
        True
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
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"Expected `objective` to be one of {list(OBJECTIVES)}, but got {objective!r}")
        if measure not in MEASURES:
            raise ValueError(f"Expected `measure` to be one of {list(MEASURES)}, but got {measure!r}")
        if eps < 0:
            raise ValueError(f"Expected `eps` to be a non-negative float, but got {eps}")
        if step_size <= 0:
            raise ValueError(f"Expected `step_size` to be a positive float, but got {step_size}")
        if steps < 1:
            raise ValueError(f"Expected `steps` to be a positive integer, but got {steps}")
        if restarts < 1:
            raise ValueError(f"Expected `restarts` to be a positive integer, but got {restarts}")
        if k_attack < 1 or k_eval < 1:
            raise ValueError(
                f"Expected `k_attack` and `k_eval` to be positive integers, but got {k_attack} and {k_eval}"
            )
        if radius < 0:
            raise ValueError(f"Expected `radius` to be a non-negative integer, but got {radius}")
        self.objective = objective
        self.attribution = self._check_attribution(attribution)
        self.eps, self.step_size, self.steps, self.restarts = eps, step_size, steps, restarts
        self.k_attack, self.k_eval, self.radius = k_attack, k_eval, radius
        self.measure, self.surrogate_beta = measure, surrogate_beta

    def _check_attribution(self, attribution: Attribution | None) -> Attribution | None:
        if attribution is not None and self.objective != "random" and not attribution.supports_create_graph:
            raise ValueError(
                f"Expected `attribution` to support create_graph for the {self.objective!r} objective, "
                f"but got {type(attribution).__name__}"
            )
        return attribution

    def with_attribution(self, attribution: Attribution) -> AttributionAttack:
        """A copy of this attack on another attribution method (evaluation runs methods x attacks)."""
        clone = copy.copy(self)
        clone.attribution = self._check_attribution(attribution)
        return clone

    def maps(self, model: nn.Module, x: Tensor, y: Tensor, create_graph: bool = False) -> Tensor:
        """Normalised ``(N, H, W)`` maps of ``x`` (sum ``H * W``), differentiable when ``create_graph``."""
        attr = self.attribution(model, x, y, create_graph=create_graph)
        return attribution_map(attr, normalize=True)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        """Attack ``x`` ``(N, C, H, W)`` in ``[0, 1]`` with labels ``y`` ``(N,)`` (the model's predictions).

        ``target_mask`` ``(N, H, W)`` or ``(H, W)`` (bool or 0/1) is required by the ``target`` objective.
        """
        if self.objective == "target" and target_mask is None:
            raise ValueError(
                "Expected `target_mask` of shape (N, H, W) or (H, W) for the 'target' objective, but got None"
            )
        if self.attribution is None:
            raise ValueError("Expected an `attribution` (constructor or `with_attribution`), but got None")
        x0 = x.detach()
        clean_map = self.maps(model, x0, y).detach()
        k_eval = min(self.k_eval, clean_map[0].numel() - 1)
        clean_measure = selection_measure(self.measure, clean_map, clean_map, k_eval)
        state = self._objective_state(model, x0, y, clean_map, target_mask)
        best_x, best_m = x0.clone(), clean_measure.clone()
        for _ in range(self.restarts):
            self._run(model, x0, y, clean_map, state, best_x, best_m, k_eval)
        degenerate = state.get("degenerate", torch.zeros_like(y, dtype=torch.bool))
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
            return {"center": center_of_mass(surrogate_map).floor()}
        if self.objective == "target":
            mask = target_mask.to(device=x0.device, dtype=clean_map.dtype)
            if mask.shape not in ((h, w), (n, h, w)):
                raise ValueError(
                    f"Expected `target_mask` of shape ({n}, {h}, {w}) or ({h}, {w}), but got {tuple(mask.shape)}"
                )
            return {"mask": mask.expand(n, h, w)}
        return {}

    def _direction(self, model: nn.Module, x: Tensor, y: Tensor, state: dict[str, Tensor]) -> Tensor:
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
            loss = (center_of_mass(maps) - state["center"]).pow(2).sum(1)
            degenerate = torch.zeros_like(y, dtype=torch.bool)
        else:
            loss = (maps * state["mask"]).flatten(1).sum(1)
            degenerate = torch.zeros_like(y, dtype=torch.bool)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        state.setdefault("degenerate", degenerate.clone())
        return grad.sign() * (~degenerate).view(-1, *([1] * (x.dim() - 1)))

    def _run(self, model, x0, y, clean_map, state, best_x, best_m, k_eval) -> None:
        x = x0.clone()
        for _ in range(self.steps):
            direction = self._direction(model, x, y, state)
            with torch.no_grad():
                x = (x0 + (x + self.step_size * direction - x0).clamp(-self.eps, self.eps)).clamp(0.0, 1.0)
                keeps_label = model(x).argmax(1) == y
            if not keeps_label.any():
                continue
            idx = keeps_label.nonzero().squeeze(1)
            maps = self.maps(model, x[idx], y[idx]).detach()
            m = selection_measure(self.measure, clean_map[idx], maps, k_eval)
            better = m < best_m[idx]
            best_x[idx[better]] = x[idx[better]]
            best_m[idx[better]] = m[better]


class RandomSignPerturbation:
    """One-shot random sign perturbation ``x' = clip_[0,1](x + eps * s)``, ``s`` uniform in {-1, +1}.

    The reading of "random sign perturbation" in Ghorbani et al. and in Kamath et al.'s ImageNet script (variant (a)
    of spec §6.7); the iterative, measure-selected walk is ``AttributionAttack(objective="random")``. A sample whose
    label changes counts as a failed attack (clean map returned).

    Args:
        attribution: the method whose maps are compared.
        eps: L-inf size of the perturbation.
        per_channel: draw one sign per pixel and channel (default) or one per pixel shared by the channels.
        measure: selection measure reported in ``AttackResult.measure``.
        k_eval: ``k`` of the ``topk`` measure.
    """

    def __init__(
        self,
        attribution: Attribution | None = None,
        eps: float = 0.3,
        per_channel: bool = True,
        measure: SelectionMeasure = "kendall",
        k_eval: int = 100,
    ) -> None:
        if eps < 0:
            raise ValueError(f"Expected `eps` to be a non-negative float, but got {eps}")
        if measure not in MEASURES:
            raise ValueError(f"Expected `measure` to be one of {list(MEASURES)}, but got {measure!r}")
        self.attribution, self.eps, self.per_channel, self.measure, self.k_eval = (
            attribution,
            eps,
            per_channel,
            measure,
            k_eval,
        )

    def with_attribution(self, attribution: Attribution) -> RandomSignPerturbation:
        """A copy of this perturbation on another attribution method."""
        clone = copy.copy(self)
        clone.attribution = attribution
        return clone

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        if self.attribution is None:
            raise ValueError("Expected an `attribution` (constructor or `with_attribution`), but got None")
        x0 = x.detach()
        shape = x0.shape if self.per_channel else (x0.shape[0], 1, *x0.shape[2:])
        sign = torch.randint(0, 2, shape, device=x0.device).to(x0.dtype) * 2 - 1
        x_adv = (x0 + self.eps * sign).clamp(0.0, 1.0)
        clean_map = attribution_map(self.attribution(model, x0, y), normalize=True).detach()
        with torch.no_grad():
            success = model(x_adv).argmax(1) == y
        adv_map = clean_map.clone()
        if success.any():
            adv_map[success] = attribution_map(
                self.attribution(model, x_adv[success], y[success]), normalize=True
            ).detach()
        x_adv = torch.where(success.view(-1, *([1] * (x0.dim() - 1))), x_adv, x0)
        k = min(self.k_eval, clean_map[0].numel() - 1)
        measure = selection_measure(self.measure, clean_map, adv_map, k)
        return AttackResult(x_adv, clean_map, adv_map, success, torch.zeros_like(success), measure)
