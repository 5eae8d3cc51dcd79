import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from torch import nn

from robattr.attribution import IntegratedGradients, Saliency
from robattr.models import FlowerResNet, MnistCNN


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 7 * 7, 5)
    ).double()


@pytest.mark.parametrize("method", ["riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid"])
@pytest.mark.parametrize("internal_batch_size", [None, 7])
def test_equals_captum(method, internal_batch_size):
    model = small_cnn()
    x, target = torch.rand(3, 1, 14, 14, dtype=torch.double), torch.tensor([0, 3, 4])
    baselines = torch.rand_like(x) * 0.1
    ours = IntegratedGradients(n_steps=16, method=method, internal_batch_size=internal_batch_size)(
        model, x, target, baselines=baselines
    )
    ref = CaptumIG(model).attribute(x, baselines=baselines, target=target, n_steps=16, method=method)
    if method == "riemann_trapezoid":  # captum's trapezoid weights sum to (n - 1) / n; ours sum to 1
        ref = ref * 16 / 15
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


def test_completeness_on_mnist_cnn():
    model = MnistCNN().double().eval()
    x, target = torch.rand(4, 1, 28, 28, dtype=torch.double), torch.tensor([1, 2, 3, 4])
    attr = IntegratedGradients(n_steps=300, method="riemann_trapezoid")(model, x, target)
    expected = model(x).gather(1, target[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(attr.flatten(1).sum(1), expected.detach(), rtol=2e-2, atol=2e-2)


def test_completeness_of_the_loss_between_two_points():
    """RAR's IG of the loss from x to x': sum(IG) = l(x') - l(x)."""
    model = FlowerResNet(num_classes=3).double().eval()
    x = torch.rand(2, 3, 16, 16, dtype=torch.double)
    x_adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    y = torch.tensor([0, 2])
    attr = IntegratedGradients(n_steps=200, method="riemann_trapezoid", objective="loss")(model, x_adv, y, baselines=x)
    loss = lambda z: nn.functional.cross_entropy(model(z), y, reduction="none")
    torch.testing.assert_close(attr.flatten(1).sum(1), (loss(x_adv) - loss(x)).detach(), rtol=1e-3, atol=1e-4)


def test_create_graph_reaches_parameters():
    model = MnistCNN()
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
    attr = IntegratedGradients(n_steps=4)(model, x, y, create_graph=True)
    attr.abs().sum().backward()
    # every weight matrix shapes the input gradient (the last bias does not: its gradient is None)
    weights = [p for p in model.parameters() if p.dim() > 1]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_saliency_equals_captum():
    from captum.attr import Saliency as CaptumSaliency

    model = small_cnn()
    x, target = torch.rand(3, 1, 14, 14, dtype=torch.double), torch.tensor([0, 1, 2])
    torch.testing.assert_close(Saliency(abs=True)(model, x, target), CaptumSaliency(model).attribute(x, target=target))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^Expected `n_steps` to be a positive integer, but got 0$"):
        IntegratedGradients(n_steps=0)
    with pytest.raises(
        ValueError,
        match=r"^Expected `method` to be one of \['riemann_right', 'riemann_left', 'riemann_middle', 'riemann_trapezoid'\], but got 'simpson'$",
    ):
        IntegratedGradients(method="simpson")
    with pytest.raises(
        ValueError,
        match=r"^Expected `objective` to be one of \['logit', 'prob', 'contrast', 'loss'\], but got 'margin'$",
    ):
        IntegratedGradients(objective="margin")
    with pytest.raises(ValueError, match=r"^Expected `target` of shape \(2,\), but got \(3,\)$"):
        IntegratedGradients()(small_cnn(), torch.rand(2, 1, 14, 14, dtype=torch.double), torch.tensor([0, 1, 2]))
