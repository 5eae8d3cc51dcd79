"""FullGrad: the full-gradient decomposition is complete on piecewise-linear networks; the map is its sum."""

from __future__ import annotations

import torch
from torch import nn

from robattr.attribution import FullGrad, full_gradient_decompose
from robattr.models import MnistCNN, TorchvisionClassifier


def test_decomposition_is_complete_on_mnist_cnn():
    model = MnistCNN().double().eval()
    x, target = torch.rand(3, 1, 28, 28, dtype=torch.double), torch.tensor([1, 4, 8])
    grad, biases = full_gradient_decompose(model, x, target)
    total = (grad * x).flatten(1).sum(1) + sum(b.flatten(1).sum(1) for b in biases)
    torch.testing.assert_close(total, model(x).gather(1, target[:, None])[:, 0].detach())


def test_decomposition_is_complete_with_batch_norm_and_normalize():
    model = TorchvisionClassifier("resnet18", num_classes=4).double().eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x, target = torch.rand(2, 3, 32, 32, dtype=torch.double), torch.tensor([0, 3])
    grad, biases = full_gradient_decompose(model, x, target)
    total = (grad * x).flatten(1).sum(1) + sum(b.flatten(1).sum(1) for b in biases)
    torch.testing.assert_close(total, model(x).gather(1, target[:, None])[:, 0].detach())


def test_map_is_the_sum_of_normalised_terms(tiny_cnn, images, labels):
    attr = FullGrad()(tiny_cnn, images, labels)
    assert attr.shape == images.shape and (attr >= 0).all()
    cam = attr.sum(1)
    # input term + two conv bias terms, each normalised to [0, 1] per image: at most 3 per pixel, summed over channels
    assert cam.max() <= 1 + 4 + 6 + 1e-5
