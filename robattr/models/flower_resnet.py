"""RAR's Flower ResNet: a small pre-activation ResNet without batch norm."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.models.activations import SwitchableReLU


class PerImageStandardize(nn.Module):
    """``(x - mean) / max(std, 1 / sqrt(numel))`` per image, over all pixels and channels (TF's op).

    Differentiable, so attributions and attacks see it. ``input_scale`` multiplies the ``[0, 1]`` input first:
    RAR fed ``[0, 255]`` pixels, and the std floor is not scale invariant.
    """

    def __init__(self, input_scale: float = 255.0) -> None:
        super().__init__()
        self.input_scale = input_scale

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.input_scale
        flat = x.flatten(1)
        mean = flat.mean(1)
        std = flat.std(1, unbiased=False).clamp_min(1.0 / math.sqrt(flat.shape[1]))
        shape = (-1,) + (1,) * (x.dim() - 1)
        return (x - mean.view(shape)) / std.view(shape)


class _Unit(nn.Module):
    """Residual unit: act -> conv(stride) -> act -> conv, shortcut avg-pooled and channel zero-padded."""

    def __init__(self, cin: int, cout: int, stride: int, activate_before_residual: bool, slope: float) -> None:
        super().__init__()
        self.act1 = SwitchableReLU(slope)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.act2 = SwitchableReLU(slope)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.cin, self.cout, self.stride = cin, cout, stride
        self.activate_before_residual = activate_before_residual

    def forward(self, x: Tensor) -> Tensor:
        a = self.act1(x)
        shortcut = a if self.activate_before_residual else x
        out = self.conv2(self.act2(self.conv1(a)))
        if self.cin != self.cout:
            shortcut = F.avg_pool2d(shortcut, self.stride, self.stride)
            pad = (self.cout - self.cin) // 2
            shortcut = F.pad(shortcut, (0, 0, 0, 0, pad, pad))
        return out + shortcut


class FlowerResNet(nn.Module):
    """RAR's Flower network (Chen et al. 2019, adapted from Madry's CIFAR ResNet), no batch norm.

    Per-image standardisation inside the model; stem conv3x3(16); three residual units 16->16 (s1), 16->32 (s2),
    32->64 (s2); leaky ReLU 0.1 everywhere (switchable to its leaky-softplus surrogate); global average pooling and a
    linear layer. Inputs ``(N, 3, H, W)`` in ``[0, 1]`` (128x128 for Flower-17).

    Args:
        num_classes: number of output logits (17 for Flower-17).
        negative_slope: slope of the leaky ReLU.

    Example:
        >>> import torch
        >>> FlowerResNet()(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 17])
    """

    def __init__(self, num_classes: int = 17, negative_slope: float = 0.1) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` to be an integer >= 2, but got {num_classes}")
        self.standardize = PerImageStandardize()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.units = nn.Sequential(
            _Unit(16, 16, 1, True, negative_slope),
            _Unit(16, 32, 2, False, negative_slope),
            _Unit(32, 64, 2, False, negative_slope),
        )
        self.head_act = SwitchableReLU(negative_slope)
        self.fc = nn.Linear(64, num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal conv weights (std sqrt(2 / (9 * out))), unit-scaling uniform fc weights, zero fc bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=math.sqrt(2.0 / (9 * m.out_channels)))
        bound = math.sqrt(3.0 / self.fc.in_features)
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.units(self.stem(self.standardize(x)))
        return self.fc(self.head_act(h).mean(dim=(2, 3)))
