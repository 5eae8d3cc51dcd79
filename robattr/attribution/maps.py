"""From an attribution of the input's shape to the 2-D map that metrics compare."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from robattr.checks import check_choice

ChannelReduction = Literal["abs_sum", "sum", "max_abs"]
"""How :func:`attribution_map` reduces the channels of an attribution (not a batch reduction like the metrics'
``reduction="mean"``)."""
CHANNEL_REDUCTIONS: tuple[str, ...] = ("abs_sum", "sum", "max_abs")


def attribution_map(
    attr: Tensor, reduction: ChannelReduction = "abs_sum", normalize: bool = False, eps: float = 1e-12
) -> Tensor:
    """Reduce ``(N, C, H, W)`` attributions over channels to ``(N, H, W)`` maps.

    The convention of RAR, Ghorbani et al. and LENS: ``S[h, w] = sum_c |A[c, h, w]|`` (``abs_sum``), optionally
    normalised per image to sum ``H * W`` (mean 1): ``I = H * W * S / sum(S)``. An all-zero map is returned as the
    uniform map of ones. The normalisation is differentiable, so attacks can keep it inside their graph.

    Args:
        attr: attributions ``(N, C, H, W)``, or ``(N, H, W)`` already one channel.
        reduction: the channel reduction, ``abs_sum`` (default), ``sum`` (signed), or ``max_abs``.
        normalize: scale each map to sum ``H * W``.
        eps: guard for the all-zero map.

    Example:
        >>> import torch
        >>> a = torch.tensor([[[[1.0, -3.0]], [[1.0, 0.0]]]])  # (1, 2, 1, 2)
        >>> attribution_map(a)
        tensor([[[2., 3.]]])
        >>> attribution_map(a, normalize=True)
        tensor([[[0.8000, 1.2000]]])
    """
    check_choice("reduction", reduction, CHANNEL_REDUCTIONS)
    if attr.dim() == 3:
        s = attr.abs() if reduction in ("abs_sum", "max_abs") else attr
    elif attr.dim() == 4:
        if reduction == "abs_sum":
            s = attr.abs().sum(1)
        elif reduction == "sum":
            s = attr.sum(1)
        else:
            s = attr.abs().amax(1)
    else:
        raise ValueError(f"Expected `attr` of shape (N, C, H, W) or (N, H, W), but got {tuple(attr.shape)}")
    if not normalize:
        return s
    d = s.shape[-1] * s.shape[-2]
    total = s.flatten(1).sum(1).view(-1, 1, 1)
    zero = total.abs() <= eps
    return (d * s / total.clamp_min(eps)).where(~zero, s.new_ones(()).expand_as(s))
