"""The interface of the attacks on attribution maps: :class:`MapAttack`, its :class:`AttackResult`, and the measures
that select a perturbation.

A map attack perturbs images within an L-inf ball of radius ``eps`` inside the pixel bounds and reports the clean
and perturbed attribution maps of the attacked method, channel-reduced ``sum_c |A|`` and normalised to sum
``H * W`` (the maps of Ghorbani et al., AAAI 2019, section 3; RAR, Chen et al., NeurIPS 2019; LENS, Kamath et al.,
AAAI 2024). The evaluation job runs every attack on every attribution method through
:meth:`MapAttack.with_attribution`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from torch import Tensor, nn

from robattr.attribution import Attribution, attribution_map
from robattr.checks import check_choice, check_in_bounds, check_int, check_real, check_tensor, is_real

SelectionMeasure = Literal["kendall", "spearman", "topk", "mass_center"]
MEASURES: tuple[str, ...] = ("kendall", "spearman", "topk", "mass_center")

_Attack = TypeVar("_Attack", bound="MapAttack")


@dataclass
class AttackResult:
    """What an attribution attack returns, every tensor batched over the ``N`` images.

    Attributes:
        x_adv: selected perturbed images ``(N, C, H, W)`` (the clean image where the attack failed).
        clean_map: normalised clean maps ``(N, H, W)`` on the original model.
        adv_map: normalised maps of ``x_adv`` ``(N, H, W)`` (the clean map where the attack failed).
        success: ``(N,)`` bool, a label-preserving iterate improved on the clean measure.
        degenerate: ``(N,)`` bool, the top-k objective had a zero gradient at the clean image (all the surrogate
            map's mass inside the attack mask, see :class:`~robattr.attacks.AttributionAttack`).
        measure: ``(N,)`` selection measure of the selected iterate (the clean value where the attack failed).
    """

    x_adv: Tensor
    clean_map: Tensor
    adv_map: Tensor
    success: Tensor
    degenerate: Tensor
    measure: Tensor


def selection_measure(name: SelectionMeasure, clean: Tensor, perturbed: Tensor, k: int) -> Tensor:
    """Per-sample similarity ``(N,)`` between clean and perturbed maps; lower means a more successful attack.

    ``kendall`` (tau-b; RAR and LENS), ``spearman``, ``topk`` (intersection at ``k``; Ghorbani et al.'s default) or
    ``mass_center`` (minus the integer centre-of-mass shift, always <= 0).

    Example:
        >>> import torch
        >>> a = torch.tensor([[[3.0, 2.0], [1.0, 0.0]]])
        >>> selection_measure("topk", a, a.flip(1), k=2)  # the top two pixels moved to the other row
        tensor([0.])
    """
    from robattr.metrics import functional as MF

    if name == "kendall":
        return MF.kendall_tau(clean, perturbed, reduction="none")
    if name == "spearman":
        return MF.spearman(clean, perturbed, reduction="none")
    if name == "topk":
        return MF.topk_intersection(clean, perturbed, k, reduction="none")
    return -MF.center_of_mass_shift(clean, perturbed, reduction="none")


def check_bounds(bounds: Sequence[float]) -> tuple[float, float]:
    """``bounds`` as a ``(low, high)`` tuple of floats with ``low < high``, both finite.

    Raises:
        TypeError: if ``bounds`` is not a pair of real numbers.
        ValueError: if a bound is not finite or ``low >= high``.

    Example:
        >>> check_bounds([0, 255])
        (0.0, 255.0)
    """
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise TypeError(f"Expected `bounds` to be a pair (low, high) of real numbers, but got {bounds!r}")
    if not all(is_real(b) for b in bounds):
        raise TypeError(f"Expected `bounds` to be a pair (low, high) of real numbers, but got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    check_real("bounds[0]", low)
    check_real("bounds[1]", high)
    if not low < high:
        raise ValueError(f"Expected `bounds` to be (low, high) with low < high, but got {tuple(bounds)!r}")
    return low, high


def check_labels(y: object, n: int) -> None:
    """Check that ``y`` is a tensor of ``n`` class labels, ``(n,)``.

    Raises:
        TypeError: if ``y`` is not a tensor.
        ValueError: if its shape is not ``(n,)``.
    """
    check_tensor("y", y)
    if y.shape != (n,):
        raise ValueError(f"Expected `y` of shape ({n},) (one label per image), but got {tuple(y.shape)}")


class MapAttack:
    """Base class of the attacks on attribution maps (:class:`~robattr.attacks.AttributionAttack`,
    :class:`~robattr.attacks.RandomSignPerturbation`).

    It holds what every map attack shares: the attacked attribution method (replaceable with
    :meth:`with_attribution`), the L-inf radius ``eps`` inside the pixel ``bounds``, and the selection measure
    with its ``k``. A subclass implements ``__call__(model, x, y, target_mask=None) -> AttackResult``, calling
    :meth:`check_call` first.

    Args:
        attribution: the attacked method (``None``: set later with :meth:`with_attribution`).
        eps: L-inf radius, in the units of the pixel bounds (``8/255`` for ``[0, 1]`` images); at most the range
            ``high - low``.
        measure: selection measure, ``kendall`` (RAR / LENS), ``spearman``, ``topk`` or ``mass_center``.
        k_eval: ``k`` of the ``topk`` selection measure.
        bounds: the valid pixel range ``(low, high)``: inputs must lie in it, iterates are clipped to it.

    Raises:
        TypeError: for a non-numeric ``eps``, a non-integer ``k_eval``, malformed ``bounds``, or an ``attribution``
            that is not an :class:`~robattr.attribution.Attribution`.
        ValueError: for a NaN, negative or larger-than-the-range ``eps``, an unknown ``measure``, ``k_eval < 1``,
            or ``bounds`` with ``low >= high``.

    Example:
        >>> from robattr.attacks import AttributionAttack, RandomSignPerturbation
        >>> from robattr.attribution import IntegratedGradients
        >>> attacks = [RandomSignPerturbation(eps=8 / 255), AttributionAttack(objective="topk", eps=8 / 255)]
        >>> [type(a.with_attribution(IntegratedGradients()).attribution).__name__ for a in attacks]
        ['IntegratedGradients', 'IntegratedGradients']
        >>> RandomSignPerturbation(eps=0.5, bounds=(0.0, 0.25))
        Traceback (most recent call last):
        ...
        ValueError: Expected `eps` to be a finite number in [0.0, 0.25], but got 0.5
    """

    def __init__(
        self,
        attribution: Attribution | None = None,
        eps: float = 0.3,
        measure: SelectionMeasure = "kendall",
        k_eval: int = 100,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.bounds = check_bounds(bounds)
        check_real("eps", eps, 0.0, self.bounds[1] - self.bounds[0])
        check_choice("measure", measure, MEASURES)
        check_int("k_eval", k_eval, minimum=1)
        self.eps, self.measure, self.k_eval = eps, measure, k_eval
        self.attribution = self._check_attribution(attribution)

    def _check_attribution(self, attribution: Attribution | None) -> Attribution | None:
        if attribution is not None and not isinstance(attribution, Attribution):
            raise TypeError(
                f"Expected `attribution` to be a robattr Attribution or None, but got {type(attribution).__name__}"
            )
        return attribution

    def with_attribution(self: _Attack, attribution: Attribution) -> _Attack:
        """A copy of this attack on another attribution method (evaluation runs methods x attacks)."""
        clone = copy.copy(self)
        clone.attribution = self._check_attribution(attribution)
        return clone

    def maps(self, model: nn.Module, x: Tensor, y: Tensor, create_graph: bool = False) -> Tensor:
        """Normalised ``(N, H, W)`` maps of ``x`` (sum ``H * W``), differentiable when ``create_graph``."""
        attr = self.attribution(model, x, y, create_graph=create_graph)
        return attribution_map(attr, normalize=True)

    def check_call(self, x: Tensor, y: Tensor) -> None:
        """The call-time checks: an attribution is set, ``x`` ``(N, C, H, W)`` lies in the bounds, ``y`` is ``(N,)``.

        Raises:
            TypeError: if ``x`` or ``y`` is not a tensor.
            ValueError: if no attribution is set, ``x`` is not 4-D, holds NaN / inf or leaves the bounds, or ``y``
                is not one label per image.
        """
        if self.attribution is None:
            raise ValueError("Expected an `attribution` (constructor or `with_attribution`), but got None")
        check_tensor("x", x, 4, "(N, C, H, W)")
        if x.numel():
            check_in_bounds("x", x, *self.bounds)
        check_labels(y, x.shape[0])

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target_mask: Tensor | None = None) -> AttackResult:
        """Attack ``x`` ``(N, C, H, W)`` with labels ``y`` ``(N,)`` (the model's predictions)."""
        raise NotImplementedError


__all__ = [
    "MEASURES",
    "AttackResult",
    "MapAttack",
    "SelectionMeasure",
    "check_bounds",
    "check_labels",
    "selection_measure",
]
