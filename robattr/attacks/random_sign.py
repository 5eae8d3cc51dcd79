"""One-shot random sign perturbation: the noise baseline of attribution robustness."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attacks.base import AttackResult, MapAttack, SelectionMeasure, selection_measure
from robattr.attribution import Attribution
from robattr.checks import check_bool
from robattr.progress import report


class RandomSignPerturbation(MapAttack):
    """One-shot random sign perturbation ``x' = clip_bounds(x + eps * s)``, ``s`` uniform in {-1, +1}.

    The reading of "random sign perturbation" in Ghorbani et al. (AAAI 2019, section 4: the random-sign baseline of
    every figure) and in Kamath et al.'s ImageNet script (AAAI 2024); the iterative, measure-selected walk of RAR's
    code is ``AttributionAttack(objective="random")``. A sample whose label changes counts as a failed attack
    (clean map returned). Calls :func:`robattr.progress.report` once, with the task ``"attack:random_sign"``.

    Args:
        attribution: the method whose maps are compared.
        eps: L-inf size of the perturbation, in the units of the pixel bounds (at most ``high - low``).
        per_channel: draw one sign per pixel and channel (default) or one per pixel shared by the channels.
        measure: selection measure reported in ``AttackResult.measure``.
        k_eval: ``k`` of the ``topk`` measure.
        bounds: the valid pixel range ``(low, high)``: inputs must lie in it, the perturbed image is clipped to it.

    Raises:
        TypeError: for a non-numeric ``eps``, a non-bool ``per_channel`` or a non-integer ``k_eval``.
        ValueError: for a NaN, negative or larger-than-the-range ``eps``, an unknown ``measure`` or ``k_eval < 1``;
            at call time, for inputs outside the bounds or non-finite, or labels that are not ``(N,)``.

    Example:
        >>> import torch
        >>> from robattr.attribution import Saliency
        >>> from robattr.models import MnistCNN
        >>> model = MnistCNN().eval()
        >>> x = torch.rand(3, 1, 28, 28).clamp(0.1, 0.9); y = model(x).argmax(1)
        >>> result = RandomSignPerturbation(Saliency(), eps=0.05)(model, x, y)
        >>> delta = (result.x_adv - x)[result.success]
        >>> bool(torch.allclose(delta.abs(), torch.full_like(delta, 0.05)))
        True
    """

    def __init__(
        self,
        attribution: Attribution | None = None,
        eps: float = 0.3,
        per_channel: bool = True,
        measure: SelectionMeasure = "kendall",
        k_eval: int = 100,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__(attribution, eps, measure, k_eval, bounds)
        check_bool("per_channel", per_channel)
        self.per_channel = per_channel

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        """Perturb ``x`` ``(N, C, H, W)`` in the pixel bounds; ``y`` ``(N,)`` are the model's predictions."""
        self.check_call(x, y)
        x0 = x.detach()
        shape = x0.shape if self.per_channel else (x0.shape[0], 1, *x0.shape[2:])
        sign = torch.randint(0, 2, shape, device=x0.device).to(x0.dtype) * 2 - 1
        x_adv = (x0 + self.eps * sign).clamp(*self.bounds)
        clean_map = self.maps(model, x0, y).detach()
        with torch.no_grad():
            success = model(x_adv).argmax(1) == y
        adv_map = clean_map.clone()
        if success.any():
            adv_map[success] = self.maps(model, x_adv[success], y[success]).detach()
        x_adv = torch.where(success.view(-1, *([1] * (x0.dim() - 1))), x_adv, x0)
        k = min(self.k_eval, clean_map[0].numel() - 1)
        measure = selection_measure(self.measure, clean_map, adv_map, k)
        report("attack:random_sign", 1, 1)
        return AttackResult(x_adv, clean_map, adv_map, success, torch.zeros_like(success), measure)


__all__ = ["RandomSignPerturbation"]
