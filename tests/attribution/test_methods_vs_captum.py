"""Each method with a captum counterpart agrees with it (captum is the reference, as in the house style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import LayerAttribution, LayerGradCam, NoiseTunnel
from captum.attr import Saliency as CaptumSaliency
from captum.attr._core.gradient_shap import InputBaselineXGradient

from robattr.attribution import (
    ExpectedGradients,
    GradCAM,
    IGSmoothGrad,
    IGUniform,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    default_cam_layer,
)
from robattr.models import MnistCNN, TorchvisionClassifier

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


def test_input_gradient_equals_captum_saliency_without_abs(tiny_cnn, images, labels):
    ours = Saliency()(tiny_cnn, images, labels)
    torch.testing.assert_close(ours, CaptumSaliency(tiny_cnn).attribute(images, target=labels, abs=False))


def test_smoothgrad_with_fixed_noise_equals_captum_saliency_on_the_noisy_copies(tiny_cnn, images, labels):
    noise = 0.1 * torch.randn(4, 6, 3, 8, 8)
    ours = SmoothGrad(n_samples=6, internal_batch_size=5)(tiny_cnn, images, labels, noise=noise)
    saliency = CaptumSaliency(tiny_cnn)
    expected = torch.stack([saliency.attribute(images + noise[:, s], target=labels, abs=False) for s in range(6)]).mean(
        0
    )
    torch.testing.assert_close(ours, expected)


def test_smoothgrad_without_noise_equals_noise_tunnel(tiny_cnn, images, labels):
    ours = SmoothGrad(n_samples=3, noise_level=0.0)(tiny_cnn, images, labels)
    ref = NoiseTunnel(CaptumSaliency(tiny_cnn)).attribute(
        images, nt_type="smoothgrad", nt_samples=3, stdevs=0.0, target=labels, abs=False
    )
    torch.testing.assert_close(ours, ref)


def test_smoothgrad_noise_scale(tiny_cnn):
    """sigma = 0.15 * (max - min) of each image: the spread of the noisy copies around the input."""
    x = torch.zeros(2, 3, 8, 8)
    x[0, 0, 0, 0] = 1.0  # range 1 for image 0, range 0 for image 1
    seen = []
    tiny_cnn.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].detach().clone()))
    SmoothGrad(n_samples=200)(tiny_cnn, x, 0)
    noisy = seen[0].view(2, 200, 3, 8, 8) - x.unsqueeze(1)
    assert abs(noisy[0].std().item() - 0.15) < 0.01
    assert noisy[1].abs().max() == 0


@pytest.mark.parametrize("method", ["riemann_right", "riemann_middle"])
def test_ig_equals_captum(method, tiny_cnn, images, labels):
    baselines = torch.rand_like(images)
    ours = IntegratedGradients(n_steps=7, method=method, internal_batch_size=9)(
        tiny_cnn, images, labels, baselines=baselines
    )
    ref = CaptumIG(tiny_cnn).attribute(images, baselines=baselines, target=labels, n_steps=7, method=method)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_ig_uniform_is_the_mean_of_captum_gradients_along_each_path(tiny_cnn, images, labels):
    refs = torch.rand(4, 2, 3, 8, 8)
    ours = IGUniform(n_references=2, n_points=3)(tiny_cnn, images, labels, references=refs)
    saliency = CaptumSaliency(tiny_cnn)
    terms = [
        (images - refs[:, j]) * saliency.attribute(refs[:, j] + a * (images - refs[:, j]), target=labels, abs=False)
        for j in range(2)
        for a in (0.0, 0.5, 1.0)
    ]
    torch.testing.assert_close(ours, torch.stack(terms).mean(0))


def test_ig_sg_references_are_clipped_noise_around_the_same_image(tiny_cnn, images, labels):
    refs = IGSmoothGrad(n_references=50).references(tiny_cnn, images, labels)
    assert refs.shape == (4, 50, 3, 8, 8)
    assert refs.min() >= 0 and refs.max() <= 1
    # each image's references scatter around that image (not another image of the batch)
    centres = refs.mean(1)
    distances = torch.cdist(centres.flatten(1), images.flatten(1))
    assert (distances.argmin(1) == torch.arange(4)).all()


def test_ig_completeness_with_random_baselines(tiny_cnn, images, labels):
    model, x = tiny_cnn.double(), images.double()
    baselines = torch.rand_like(x)
    attr = IntegratedGradients(n_steps=300, method="riemann_trapezoid")(model, x, labels, baselines=baselines)
    expected = model(x).gather(1, labels[:, None])[:, 0] - model(baselines).gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(attr.flatten(1).sum(1), expected.detach(), rtol=1e-2, atol=1e-3)


def test_expected_gradients_with_fixed_draws_equal_captum_gradient_shap_core(tiny_cnn, images, labels):
    """GradientShap's per-sample term g(x' + a (x - x')) * (x - x') with captum's numpy draw of a, averaged."""
    n, r, k = 4, 3, 2
    refs = torch.rand(n, r, 3, 8, 8)
    np.random.seed(3)
    expanded_x = images.repeat_interleave(r * k, 0)
    expanded_refs = refs.repeat_interleave(k, 1).flatten(0, 1)
    terms = InputBaselineXGradient(tiny_cnn).attribute(
        expanded_x, baselines=expanded_refs, target=labels.repeat_interleave(r * k)
    )
    np.random.seed(3)
    alphas = torch.tensor(np.random.uniform(0.0, 1.0, n * r * k), dtype=torch.float32).view(n, r, k)
    ours = ExpectedGradients(n_references=r, n_points=k)(tiny_cnn, images, labels, references=refs, alphas=alphas)
    torch.testing.assert_close(ours, terms.view(n, r * k, 3, 8, 8).mean(1))


def test_expected_gradients_draws_references_from_the_pool(tiny_cnn, images, labels):
    pool = torch.rand(5, 3, 8, 8)
    eg = ExpectedGradients(n_references=7, pool_size=3).fit(None, [(pool[:2], None), (pool[2:], None)])
    refs = eg.references(tiny_cnn, images, labels)
    assert refs.shape == (4, 7, 3, 8, 8)
    assert all(any(torch.equal(ref, p) for p in pool[:3]) for ref in refs.flatten(0, 1))


def test_gradcam_equals_captum_layer_gradcam_interpolated():
    model = MnistCNN().eval()
    x, target = torch.rand(3, 1, 28, 28), torch.tensor([0, 5, 9])
    layer = model.get_submodule(default_cam_layer(model))
    ref = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, (28, 28), interpolate_mode="bilinear")
    ours = GradCAM(align_corners=False)(model, x, target)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)


def test_gradcam_spreads_the_map_over_channels(tiny_cnn, images, labels):
    ours = GradCAM(layer="features.0")(tiny_cnn, images, labels)
    assert torch.equal(ours[:, 0], ours[:, 1]) and (ours >= 0).all()


def test_default_cam_layer_of_torchvision_models():
    assert default_cam_layer(TorchvisionClassifier("resnet18", num_classes=3)) == "net.layer4.1.conv2"
