"""Shared fixtures for the attribution tests: seeded RNGs and small models."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from robattr.models import MnistCNN, SwitchableReLU


def whole(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern matching exactly ``message``."""
    return "^" + re.escape(message) + "$"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


class TinyCNN(nn.Module):
    """conv3x3(4) - ReLU - maxpool - conv3x3(6) - ReLU - flatten - linear(5) on (N, C, 8, 8) inputs."""

    def __init__(self, in_channels: int = 3, activation: type[nn.Module] = SwitchableReLU) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1),
            activation(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            activation(),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@pytest.fixture
def tiny_cnn() -> nn.Module:
    return TinyCNN().eval()


@pytest.fixture
def mnist_cnn() -> nn.Module:
    return MnistCNN().eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 8, 8)


@pytest.fixture
def labels() -> torch.Tensor:
    return torch.tensor([0, 1, 2, 3])


def input_grad(model: nn.Module, points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reference per-sample logit gradient, one autograd call per sample."""
    out = []
    for p, t in zip(points, target):
        p = p.unsqueeze(0).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(p)[0, int(t)], p)
        out.append(g[0])
    return torch.stack(out)
