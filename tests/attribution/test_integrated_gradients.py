import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from torch import nn

from robattr.attribution import (
    AdversarialGradientIntegration,
    ExpectedGradients,
    IGSmoothGrad,
    IGSquared,
    IGUniform,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    attribution_map,
)
from robattr.models import FlowerResNet, MnistCNN, softplus_surrogate
from tests.attribution._reference_ig import reference_ig
from tests.attribution.conftest import whole


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

    def loss(z):
        return nn.functional.cross_entropy(model(z), y, reduction="none")

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
        match=whole(
            "Expected `method` to be one of ['riemann_right', 'riemann_left', 'riemann_middle', 'riemann_trapezoid'],"
            " but got 'simpson'"
        ),
    ):
        IntegratedGradients(method="simpson")
    with pytest.raises(
        ValueError,
        match=r"^Expected `objective` to be one of \['logit', 'prob', 'contrast', 'loss'\], but got 'margin'$",
    ):
        IntegratedGradients(objective="margin")
    with pytest.raises(ValueError, match=r"^Expected `target` of shape \(2,\), but got \(3,\)$"):
        IntegratedGradients()(small_cnn(), torch.rand(2, 1, 14, 14, dtype=torch.double), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("internal_batch_size", [None, 3, 8, 40])
@pytest.mark.parametrize("objective", ["logit", "loss"])
def test_engine_equals_the_former_ig_loop(internal_batch_size, objective):
    """IG on the path-integral engine gives the values of its former private loop (tests/attribution/_reference_ig.py).

    Bitwise where both put the same points in a pass (``None``, or a multiple of N); to float precision elsewhere.
    """
    model = FlowerResNet(num_classes=4).eval()
    x, baselines, y = torch.rand(4, 3, 12, 12), torch.rand(4, 3, 12, 12) * 0.2, torch.tensor([0, 1, 2, 3])
    ig = IntegratedGradients(n_steps=10, objective=objective, internal_batch_size=internal_batch_size)
    ours = ig(model, x, y, baselines=baselines)
    ref = reference_ig(model, x, y, baselines, 10, objective=objective, internal_batch_size=internal_batch_size)
    if internal_batch_size in (None, 8, 40):
        assert torch.equal(ours, ref)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("internal_batch_size", [None, 6])
def test_create_graph_equals_the_former_ig_loop(internal_batch_size):
    """The gradients an attack (w.r.t. the inputs) and RAR (w.r.t. the parameters) take through IG are unchanged."""
    model = MnistCNN().eval()
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([1, 5, 7])

    def grads(fn):
        xr = x.clone().requires_grad_(True)
        with softplus_surrogate(model):
            attr = fn(xr)
        loss = attribution_map(attr, normalize=True)[:, 10:18, 10:18].sum()
        return attr, torch.autograd.grad(loss, [xr, *model.parameters()], allow_unused=True)

    ig = IntegratedGradients(n_steps=6, internal_batch_size=internal_batch_size)
    ours, g_ours = grads(lambda xr: ig(model, xr, y, create_graph=True))
    ref, g_ref = grads(
        lambda xr: reference_ig(model, xr, y, n_steps=6, internal_batch_size=internal_batch_size, create_graph=True)
    )
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    for a, b in zip(g_ours, g_ref):
        assert (a is None) == (b is None)
        if a is not None:
            if internal_batch_size is None:
                assert torch.equal(a, b)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _integral_methods() -> list:
    eg = ExpectedGradients(n_references=2, n_points=3)
    eg.fit(None, torch.rand(6, 1, 14, 14))
    return [
        IntegratedGradients(n_steps=5),
        IGUniform(n_references=2, n_points=3),
        IGSmoothGrad(n_references=2, n_points=3),
        IGSquared(n_references=2, n_points=3),
        eg,
        AdversarialGradientIntegration(n_classes=2, n_steps=2),
        SmoothGrad(n_samples=5),
    ]


@pytest.mark.parametrize("n_images", [4, 10])
@pytest.mark.parametrize("internal_batch_size", [1, 6, 10, 25])
@pytest.mark.parametrize("index", range(7), ids=["ig", "ig_uniform", "ig_sg", "ig_sq", "eg", "agi", "smoothgrad"])
def test_internal_batch_size_is_an_upper_bound_on_every_forward_pass(n_images, internal_batch_size, index):
    """robattr's one rule (path.forward_blocks): no forward pass holds more than `internal_batch_size` points.

    With 10 images and internal_batch_size 4 or 6, captum's rule (and IG's former loop) sent passes of 10.
    """
    method = _integral_methods()[index]
    model = small_cnn().float()
    x, y = torch.rand(n_images, 1, 14, 14), torch.arange(n_images) % 5
    sizes: list[int] = []
    handle = model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    torch.manual_seed(1)
    whole_batch = method(model, x, y)
    sizes.clear()
    method.internal_batch_size = internal_batch_size
    torch.manual_seed(1)
    chunked = method(model, x, y)
    handle.remove()
    assert max(sizes) <= internal_batch_size
    if not isinstance(method, AdversarialGradientIntegration):  # AGI adds its class-count pass and ascent passes
        points = method.n_samples if isinstance(method, SmoothGrad) else method.n_references * method.n_points
        assert sum(sizes) == n_images * points
    torch.testing.assert_close(chunked, whole_batch, rtol=1e-5, atol=1e-6)  # the same draws, the same values


def test_bad_baselines_and_channel_reduction():
    model, x = small_cnn().float(), torch.rand(2, 1, 14, 14)
    with pytest.raises(
        ValueError,
        match=whole("Expected `baselines` broadcastable to the inputs' shape (2, 1, 14, 14), but got (3, 1, 14, 14)"),
    ):
        IntegratedGradients(n_steps=2)(model, x, 0, baselines=torch.zeros(3, 1, 14, 14))
    with pytest.raises(ValueError, match=whole("Expected either `baselines` or `references`, but got both")):
        IntegratedGradients(n_steps=2)(model, x, 0, baselines=torch.zeros(1), references=torch.zeros(2, 1, 1, 14, 14))
    with pytest.raises(ValueError, match=whole("Expected `baseline` to be a finite number, but got nan")):
        IntegratedGradients(baseline=float("nan"))
    for attr in (torch.rand(2, 3, 4, 4), torch.rand(2, 4, 4)):  # a 3-D map is checked too
        with pytest.raises(
            ValueError, match=whole("Expected `reduction` to be one of ['abs_sum', 'sum', 'max_abs'], but got 'mean'")
        ):
            attribution_map(attr, reduction="mean")
