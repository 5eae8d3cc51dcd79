"""A CNN with hand-set, checkable units: a ground truth for Network Dissection and its corruption (docs/neurons.md)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

UNIT_CONCEPTS: tuple[str, ...] = ("red", "red", "blue", "green", "brightness", "yellow")
FRAGILE_UNIT = 1


class PlantedUnitCNN(nn.Module):
    r"""Six hand-set units over RGB inputs in ``[0, 1]``: five robust colour detectors and one fragile red detector.

    ``conv`` (3x3, stride 2, padding 1) -> ``act`` (LeakyReLU 0.01) -> ``pool`` (2x2 average) gives the probed
    ``(N, 6, H/4, W/4)`` activations; ``head`` maps their spatial mean to two logits (indoor / outdoor, from the
    brightness unit), so the accuracy on corrupted probing data can be measured. Each colour unit averages a linear
    colour contrast over its 3x3 window:

    ====  ==================================================  ==========================
    unit  pre-activation                                       planted concept
    ====  ==================================================  ==========================
    0     :math:`R - G - 0.3`                                  red
    1     :math:`R - G - 0.3 + g\,\mathrm{checker}(x)`          red (fragile)
    2     :math:`B - R - 0.3`                                  blue
    3     :math:`G - R - 0.3`                                  green
    4     :math:`(R + G + B)/3 - 0.6`                          brightness
    5     :math:`0.5R + 0.5G - B - 0.3`                        yellow
    ====  ==================================================  ==========================

    ``checker`` is the 2x2 kernel ``[[1, -1], [-1, 1]]`` on every channel, aligned with the stride-2 grid: it is zero on
    flat colours and on horizontal / vertical edges on the grid (the generated probing set has nothing else), so on
    clean data unit 1 is a red detector; an eps-sized checkerboard adds about ``12 g eps`` to its pre-activation, a
    deterministic stand-in for a non-robust feature. The leaky slope keeps a gradient on the regions where a unit is
    off, so attacks can switch it on.

    Args:
        gain: the fragile unit's checkerboard gain ``g`` (default 12).
        negative_slope: slope of the leaky ReLU (0.01).

    Example:
        >>> net = PlantedUnitCNN()
        >>> red = torch.zeros(1, 3, 8, 8); red[:, 0] = 0.9
        >>> acts = net.pool(net.act(net.conv(red)))
        >>> acts.shape, bool(acts[0, 0, 1, 1] > 0), bool(acts[0, 3, 1, 1] > 0)
        (torch.Size([1, 6, 2, 2]), True, False)
    """

    def __init__(self, gain: float = 12.0, negative_slope: float = 0.01) -> None:
        super().__init__()
        if gain < 0:
            raise ValueError(f"Expected `gain` to be a non-negative float, but got {gain}")
        if not 0.0 < negative_slope < 1.0:
            raise ValueError(f"Expected `negative_slope` to be in (0, 1), but got {negative_slope}")
        self.gain = gain
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.act = nn.LeakyReLU(negative_slope)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(6, 2)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Set the planted weights (the model has nothing to train)."""
        contrasts = torch.tensor(
            [
                [1.0, -1.0, 0.0],
                [1.0, -1.0, 0.0],
                [-1.0, 0.0, 1.0],
                [-1.0, 1.0, 0.0],
                [1 / 3, 1 / 3, 1 / 3],
                [0.5, 0.5, -1.0],
            ]
        )
        self.conv.weight.copy_(contrasts[:, :, None, None].expand(6, 3, 3, 3) / 9.0)
        self.conv.weight[1, :, 1:, 1:] += self.gain * torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
        self.conv.bias.copy_(torch.tensor([-0.3, -0.3, -0.3, -0.3, -0.6, -0.3]))
        self.head.weight.zero_()
        self.head.weight[1, 4] = 100.0  # outdoor logit from the brightness unit's spatial mean
        self.head.bias.copy_(torch.tensor([0.0, -2.0]))

    def features(self, x: Tensor) -> Tensor:
        """The probed activations ``(N, 6, H/4, W/4)`` (the output of ``pool``)."""
        return self.pool(self.act(self.conv(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))
