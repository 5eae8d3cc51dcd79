"""Centre-of-mass dislocation as a torchmetrics class (logic in :mod:`.functional.center_of_mass`)."""

from __future__ import annotations

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples
from robattr.metrics.functional.center_of_mass import _center_of_mass_shift_update


class CenterOfMassShift(_MeanOverSamples):
    r"""Mean centre-of-mass dislocation, in pixels, between clean and perturbed attribution maps (lower is better).

    .. math:: \| \lfloor C(a) \rfloor - \lfloor C(a') \rfloor \|_2, \quad
        C(a) = \frac{\sum_p a_p \, (\mathrm{row}_p, \mathrm{col}_p)}{\sum_p a_p}

    Ghorbani, Abid and Zou, "Interpretation of Neural Networks is Fragile", AAAI 2019; centres truncated to integers
    as in their code. Maps are expected non-negative.

    As input to ``forward`` and ``update`` the metric accepts ``clean`` ``(N, H, W)``, ``perturbed`` ``(N, H, W)``
    and an optional bool ``valid`` ``(N,)`` marking the samples to count.

    Args:
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> import torch
        >>> clean = torch.zeros(2, 8, 8)
        >>> clean[:, 1, 1] = 1.0
        >>> perturbed = clean.clone()
        >>> perturbed[0] = clean[0].roll((3, 4), dims=(0, 1))
        >>> metric = CenterOfMassShift()
        >>> metric(clean, perturbed)
        tensor(2.5000)
    """

    higher_is_better = False
    plot_lower_bound = 0.0

    def update(self, clean: Tensor, perturbed: Tensor, valid: Tensor | None = None) -> None:
        """Add the centre-of-mass shifts of a batch of map pairs."""
        self._accumulate(*_center_of_mass_shift_update(clean, perturbed, valid))
