"""robattr's attribution attack before it moved onto MapAttack and PGD's step, kept as a test reference.

The loop as it was (restarts run one after another, each from the clean image; the step written inline), for the
objectives whose arithmetic did not change (``topk``, ``lens_topk``, ``target``, ``random``). ``mass_center`` now uses
the metrics' float64 centre of mass, so it is compared by its properties instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attacks import AttackResult, selection_measure
from robattr.attribution import Attribution, attribution_map
from robattr.metrics.functional.masks import neighbourhood_mask, topk_mask
from robattr.models import softplus_surrogate


class ReferenceAttributionAttack:
    """The former ``AttributionAttack`` (same arguments, no validation)."""

    def __init__(
        self,
        attribution: Attribution,
        objective: str = "topk",
        eps: float = 0.3,
        step_size: float = 0.01,
        steps: int = 100,
        restarts: int = 1,
        k_attack: int = 200,
        k_eval: int = 100,
        radius: int = 1,
        measure: str = "kendall",
        surrogate_beta: float = 1.0,
    ) -> None:
        self.attribution, self.objective = attribution, objective
        self.eps, self.step_size, self.steps, self.restarts = eps, step_size, steps, restarts
        self.k_attack, self.k_eval, self.radius = k_attack, k_eval, radius
        self.measure, self.surrogate_beta = measure, surrogate_beta

    def maps(self, model: nn.Module, x: Tensor, y: Tensor, create_graph: bool = False) -> Tensor:
        return attribution_map(self.attribution(model, x, y, create_graph=create_graph), normalize=True)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        x0 = x.detach()
        clean_map = self.maps(model, x0, y).detach()
        k_eval = min(self.k_eval, clean_map[0].numel() - 1)
        clean_measure = selection_measure(self.measure, clean_map, clean_map, k_eval)
        n, h, w = clean_map.shape
        state: dict[str, Tensor] = {}
        if self.objective in ("topk", "lens_topk"):
            mask = topk_mask(clean_map, min(self.k_attack, h * w - 1), validate_args=False)
            if self.objective == "lens_topk":
                mask = neighbourhood_mask(mask, self.radius, validate_args=False)
            state["mask"] = mask.to(clean_map.dtype)
        elif self.objective == "target":
            state["mask"] = target_mask.to(clean_map.dtype).expand(n, h, w)
        best_x, best_m = x0.clone(), clean_measure.clone()
        for _ in range(self.restarts):
            self._run(model, x0, y, clean_map, state, best_x, best_m, k_eval)
        degenerate = state.get("degenerate", torch.zeros_like(y, dtype=torch.bool))
        success = best_m < clean_measure
        adv_map = clean_map.clone()
        if success.any():
            adv_map[success] = self.maps(model, best_x[success], y[success]).detach()
        return AttackResult(best_x, clean_map, adv_map, success, degenerate, best_m)

    def _direction(self, model: nn.Module, x: Tensor, y: Tensor, state: dict[str, Tensor]) -> Tensor:
        if self.objective == "random":
            return torch.randn_like(x).sign()
        x = x.detach().requires_grad_(True)
        with softplus_surrogate(model, self.surrogate_beta):
            maps = self.maps(model, x, y, create_graph=True)
        inside = (maps * state["mask"]).flatten(1).sum(1)
        if self.objective == "target":
            loss, degenerate = inside, torch.zeros_like(y, dtype=torch.bool)
        else:
            loss, degenerate = -inside, inside.detach() >= maps[0].numel() * (1 - 1e-6)
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
