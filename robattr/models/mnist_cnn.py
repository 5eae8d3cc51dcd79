"""The RAR / Madry-challenge MNIST CNN."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.models.activations import SwitchableReLU


class MnistCNN(nn.Module):
    """RAR's MNIST network: conv5x5(32)-pool-conv5x5(64)-pool-fc1024-fc10 with ReLU.

    Chen et al. (NeurIPS 2019) and Madry et al. (ICLR 2018). Inputs ``(N, 1, 28, 28)`` in ``[0, 1]``; outputs
    logits ``(N, num_classes)``. Weights are drawn from a truncated normal (std 0.1) and biases set to 0.1, as in the
    reference code. Every ReLU is a :class:`~robattr.models.SwitchableReLU`, so the softplus surrogate shares the
    parameters.

    Args:
        num_classes: number of output logits.
        in_channels: input channels (1 for MNIST).

    Example:
        >>> import torch
        >>> MnistCNN()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` to be an integer >= 2, but got {num_classes}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2),
            SwitchableReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            SwitchableReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), SwitchableReLU(), nn.Linear(1024, num_classes)
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Truncated-normal(0, 0.1) weights in [-0.2, 0.2] and constant 0.1 biases, as in RAR's code."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2)
                nn.init.constant_(m.bias, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
