"""Integrated Gradients with squared contributions over SmoothGrad references (after Hooker et al. 2019)."""

from __future__ import annotations

from robattr.attribution.ig_smoothgrad import IGSmoothGrad


class IGSquared(IGSmoothGrad):
    r"""IG-SQ: the references of :class:`IGSmoothGrad`, each averaged unit squared (SmoothGrad-Squared applied to IG).

    .. math:: A = \frac{1}{R} \sum_j C_j^2, \quad C_j = (x - x'_j) \odot \frac{1}{K} \sum_m \nabla S(z_{jm})

    ``valid_ref`` averages ``C_j^2`` over the references with ``C_j >= 0``; ``valid_ip`` averages ``c_jm^2`` over the
    points with ``c_jm >= 0`` (validity judged before squaring), as in the re-calibration code. Deviation: the code's
    vanilla IG-SQ is ``(x - x'_j) * (mean_m g)^2`` (squares only the gradient, keeps the sign of the displacement);
    here vanilla squares ``C_j`` like the two re-calibrated estimators do, so the three differ only in which samples
    they keep. Same arguments as :class:`IGSmoothGrad`.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> bool((IGSquared(n_references=2, n_points=3)(model, torch.rand(5, 4), target=1) >= 0).all())
        True
    """

    square = True
