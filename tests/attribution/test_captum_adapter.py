"""captum adapters: equal to captum on a plain-ReLU copy of the model, model restored, reused activations split."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import LRP as CaptumLRP
from captum.attr import DeepLift as CaptumDeepLift
from captum.attr import GradientShap as CaptumGradientShap
from torch import nn

from robattr.attribution import (
    LRP,
    CaptumAttribution,
    DeepLift,
    GradientShap,
    InputXGradient,
    Saliency,
    captum_compatible,
)
from robattr.models import MnistCNN, SwitchableReLU
from tests.attribution.conftest import TinyCNN, whole

pytestmark = pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")


def plain_copy(model: nn.Module) -> nn.Module:
    """The same weights with every SwitchableReLU an nn.ReLU: what captum expects."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SwitchableReLU):
                setattr(parent, name, nn.ReLU())
    return model


@pytest.fixture(scope="module")
def mnist():
    torch.manual_seed(0)
    return MnistCNN().double().eval(), torch.rand(3, 1, 28, 28, dtype=torch.double), torch.tensor([1, 5, 7])


def test_deeplift_equals_captum_on_mnist_cnn(mnist):
    model, x, y = mnist
    ours = DeepLift()(model, x, y)
    ref = CaptumDeepLift(plain_copy(model)).attribute(
        x.clone().requires_grad_(), baselines=torch.zeros_like(x), target=y
    )
    torch.testing.assert_close(ours, ref.detach())


def test_lrp_equals_captum_on_mnist_cnn(mnist):
    model, x, y = mnist

    class Plain(nn.Module):  # MnistCNN without the Flatten module, which captum's LRP cannot handle
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.features, self.fc1, self.act, self.fc2 = (
                net.features,
                net.classifier[1],
                net.classifier[2],
                net.classifier[3],
            )

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.act(self.fc1(self.features(z).flatten(1))))

    ref = CaptumLRP(Plain(plain_copy(model))).attribute(x.clone().requires_grad_(), target=y)
    torch.testing.assert_close(LRP()(model, x, y), ref.detach())


def test_model_is_restored(mnist):
    model, x, y = mnist
    before = [type(m) for m in model.modules()]
    LRP()(model, x, y)
    DeepLift()(model, x, y)
    assert [type(m) for m in model.modules()] == before
    assert not any(hasattr(m, "rule") or hasattr(m, "activations") for m in model.modules())


class Reusing(nn.Module):
    """One activation module called twice per forward, as in torchvision's ResNet blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(5, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.act = SwitchableReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


class Separate(nn.Module):
    def __init__(self, net: Reusing) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = net.fc1, net.fc2, net.fc3
        self.act1, self.act2 = nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


def test_reused_activation_is_split_per_call_for_deeplift():
    net = Reusing().double()
    x, y = torch.randn(4, 5, dtype=torch.double), torch.tensor([0, 1, 2, 0])
    ours = DeepLift()(net, x, y)
    ref = CaptumDeepLift(Separate(net)).attribute(x.clone().requires_grad_(), baselines=torch.zeros_like(x), target=y)
    torch.testing.assert_close(ours, ref.detach())
    delta = net(x).gather(1, y[:, None])[:, 0] - net(torch.zeros_like(x)).gather(1, y[:, None])[:, 0]
    torch.testing.assert_close(ours.sum(1), delta.detach())  # summation to delta, exact without max-pooling
    with captum_compatible(net, x):
        assert [type(c).__name__ for c in net.act.calls] == ["ReLU", "ReLU"]
    assert isinstance(net.act, SwitchableReLU)


def test_input_x_gradient_is_input_times_saliency(tiny_cnn, images, labels):
    torch.testing.assert_close(
        InputXGradient()(tiny_cnn, images, labels), images * Saliency()(tiny_cnn, images, labels)
    )


def test_gradient_shap_equals_captum_with_the_same_draws(tiny_cnn, images, labels):
    baselines = torch.rand(5, 3, 8, 8)
    np.random.seed(1)
    torch.manual_seed(1)
    ours = GradientShap(n_samples=4, stdevs=0.1)(tiny_cnn, images, labels, baselines=baselines)
    np.random.seed(1)
    torch.manual_seed(1)
    ref = CaptumGradientShap(plain_copy(tiny_cnn)).attribute(
        images, baselines=baselines, target=labels, n_samples=4, stdevs=0.1
    )
    torch.testing.assert_close(ours, ref)


def test_generic_adapter_forwards_keyword_arguments(tiny_cnn, images, labels):
    occlusion = CaptumAttribution("Occlusion", sliding_window_shapes=(3, 2, 2), strides=(3, 2, 2))
    attr = occlusion(tiny_cnn, images, labels)
    assert attr.shape == images.shape
    assert not occlusion.supports_create_graph
    with pytest.raises(
        ValueError,
        match=whole("Expected `create_graph=False` for CaptumAttribution, which does not support it, but got True"),
    ):
        occlusion(tiny_cnn, images, labels, create_graph=True)


def test_bad_arguments():
    with pytest.raises(
        ValueError,
        match=r"^Expected `method_name` to be one of \['Deconvolution', .*'ShapleyValueSampling'\], but got 'GradCam'$",
    ):
        CaptumAttribution("GradCam")
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected `objective` to be 'logit' for a captum method (it explains an output column), but got 'prob'"
        ),
    ):
        CaptumAttribution("Saliency", objective="prob")
    with pytest.raises(
        ValueError, match=whole("Expected `baseline` to be one of ['black', 'uniform'], but got 'gray'")
    ):
        GradientShap(baseline="gray")


def test_lrp_on_tiny_cnn_with_flatten_module():
    model = TinyCNN().eval()
    attr = LRP()(model, torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    assert attr.shape == (2, 3, 8, 8) and torch.isfinite(attr).all()
