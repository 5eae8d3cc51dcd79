"""The path-integral engine and re-calibration: estimators against a plain loop, and the spec's properties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robattr.attribution import (
    AdversarialGradientIntegration,
    ExpectedGradients,
    IGSmoothGrad,
    IGSquared,
    IGUniform,
    IntegratedGradients,
    LocalPathIntegration,
    PathAccumulator,
    Recalibrated,
)
from robattr.models import softplus_surrogate
from tests.attribution.conftest import TinyCNN, input_grad, whole

ESTIMATORS = ["vanilla", "valid_ip", "valid_ref"]


def loop_reference(model, x, target, refs, alphas, estimator, rho=None, w=None, square=False):
    """The estimators of the spec written as plain loops over images, references and points."""
    n, r, k = alphas.shape
    rho = torch.full((n, r), 1.0 / r) if rho is None else rho
    w = torch.full((k,), 1.0 / k) if w is None else w
    out = []
    for i in range(n):
        num, den, ref_terms = 0.0, 0.0, []
        for j in range(r):
            c_ref = 0.0
            for m in range(k):
                z = refs[i, j] + alphas[i, j, m] * (x[i] - refs[i, j])
                g = input_grad(model, z.unsqueeze(0), target[i : i + 1])[0]
                c = g * (x[i] - z)
                valid = (c >= 0).float() * rho[i, j] * w[m]
                num = num + valid * (c * c if square else c)
                den = den + valid
                c_ref = c_ref + w[m] * g * (x[i] - refs[i, j])
            ref_terms.append(c_ref)
        if estimator == "valid_ip":
            out.append(torch.where(den > 0, num / torch.as_tensor(den).clamp_min(1e-30), torch.zeros_like(x[i])))
            continue
        units = [c * c if square else c for c in ref_terms]
        if estimator == "vanilla":
            out.append(sum(rho[i, j] * units[j] for j in range(r)))
        else:
            v = [(c >= 0).float() * rho[i, j] for j, c in enumerate(ref_terms)]
            num, den = sum(v[j] * units[j] for j in range(r)), sum(v)
            out.append(torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(x[i])))
    return torch.stack(out)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("cls", [IGUniform, IGSquared])
def test_estimators_equal_the_plain_loop(estimator, cls, tiny_cnn, images, labels):
    model, x, labels = tiny_cnn.double(), images[:2].double(), labels[:2]
    refs, alphas = torch.rand(2, 3, 3, 8, 8, dtype=torch.double), torch.rand(2, 3, 2, dtype=torch.double)
    ours = cls(n_references=3, n_points=2, estimator=estimator, internal_batch_size=5)(
        model, x, labels, references=refs, alphas=alphas
    )
    expected = loop_reference(model, x, labels, refs, alphas, estimator, square=cls is IGSquared)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_weighted_estimators_equal_the_plain_loop(estimator, tiny_cnn, images, labels):
    """Reference weights (LPI's densities) and point weights (IG's Riemann rule) enter every estimator."""
    model, x, labels = tiny_cnn.double(), images[:2].double(), labels[:2]
    refs = torch.rand(2, 3, 3, 8, 8, dtype=torch.double)
    lpi = LocalPathIntegration(n_prototypes=3, n_points=2, estimator=estimator)
    rho = torch.tensor([0.5, 0.3, 0.2], dtype=torch.double)
    lpi._state = {
        "centers": torch.zeros(1, 5),
        "prototypes": refs[:1].float(),
        "density": rho.view(1, 3).float(),
        "indices": torch.zeros(1, 3),
    }
    alphas = torch.rand(2, 3, 2, dtype=torch.double)
    ours = lpi(model, x, labels, references=refs, alphas=alphas)
    expected = loop_reference(model, x, labels, refs, alphas, estimator, rho=rho.float().double().expand(2, 3))
    torch.testing.assert_close(ours, expected)
    ig = IntegratedGradients(n_steps=4, method="riemann_trapezoid", estimator=estimator)
    base = torch.rand_like(x)
    a = torch.linspace(0, 1, 4, dtype=torch.double).expand(2, 1, 4)
    w = torch.tensor([1 / 6, 1 / 3, 1 / 3, 1 / 6], dtype=torch.double)
    expected = loop_reference(model, x, labels, base.unsqueeze(1), a, estimator, w=w)
    torch.testing.assert_close(ig(model, x, labels, baselines=base), expected)


@pytest.mark.parametrize("mode", ["valid_ip", "valid_ref"])
@pytest.mark.parametrize(
    "method",
    [
        IGUniform(3, 4),
        IGSmoothGrad(3, 4),
        IGSquared(3, 4),
        ExpectedGradients(3, 4),
        AdversarialGradientIntegration(2, 2),
        IntegratedGradients(n_steps=4),
    ],
    ids=lambda m: type(m).__name__,
)
def test_recalibrated_maps_are_non_negative(mode, method, tiny_cnn, images, labels):
    if isinstance(method, ExpectedGradients):
        method = ExpectedGradients(3, 4).fit(None, torch.rand(10, 3, 8, 8))
    attr = Recalibrated(method, mode)(tiny_cnn, images, labels)
    assert attr.shape == images.shape
    assert (attr >= 0).all()
    assert (attr > 0).any()


def test_one_reference_one_point_is_the_positive_part(tiny_cnn, images, labels):
    """N = k = 1 with alpha = 0 (linspace(0, 1, 1)): max(0, g(x') * (x - x'))."""
    refs = torch.rand(4, 1, 3, 8, 8)
    for mode in ("valid_ip", "valid_ref"):
        attr = Recalibrated(IGUniform(n_references=1, n_points=1), mode)(tiny_cnn, images, labels, references=refs)
        expected = (input_grad(tiny_cnn, refs[:, 0], labels) * (images - refs[:, 0])).clamp_min(0)
        torch.testing.assert_close(attr, expected)


def test_equals_the_plain_mean_when_every_contribution_is_non_negative():
    """A linear model with positive weights and references below the input: every c_jm >= 0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3))
    with torch.no_grad():
        model[1].weight.uniform_(0.1, 1.0)
    x = torch.rand(5, 1, 2, 3) + 1.0
    refs = x.unsqueeze(1) - torch.rand(5, 4, 1, 2, 3)
    target = torch.tensor([0, 1, 2, 0, 1])
    ig = IGUniform(n_references=4, n_points=3)
    w = model[1].weight[target].view(5, 1, 1, 2, 3)
    alphas = torch.linspace(0, 1, 3).view(1, 1, 3, 1, 1, 1)
    contributions = w.unsqueeze(2) * (1 - alphas) * (x.unsqueeze(1) - refs).unsqueeze(2)  # (N, R, K, ...)
    torch.testing.assert_close(
        Recalibrated(ig, "valid_ip")(model, x, target, references=refs), contributions.mean((1, 2)).detach()
    )
    torch.testing.assert_close(
        Recalibrated(ig, "valid_ref")(model, x, target, references=refs), ig(model, x, target, references=refs)
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("cls", [IGUniform, IGSquared])
def test_independent_of_the_batch_and_of_the_chunking(estimator, cls, tiny_cnn, images, labels):
    """The spec's section 4.3 bugs made a map depend on its batch; here only its own references matter."""
    refs, alphas = torch.rand(4, 3, 3, 8, 8), torch.rand(4, 3, 5)
    whole_batch = cls(3, 5, estimator=estimator)(tiny_cnn, images, labels, references=refs, alphas=alphas)
    for size in (2, 7):
        chunked = cls(3, 5, estimator=estimator, internal_batch_size=size)(
            tiny_cnn, images, labels, references=refs, alphas=alphas
        )
        torch.testing.assert_close(chunked, whole_batch)
    alone = cls(3, 5, estimator=estimator)(tiny_cnn, images[2:3], labels[2:3], references=refs[2:3], alphas=alphas[2:3])
    torch.testing.assert_close(alone, whole_batch[2:3])
    order = torch.tensor([3, 2, 0, 1])
    shuffled = cls(3, 5, estimator=estimator)(
        tiny_cnn, images[order], labels[order], references=refs[order], alphas=alphas[order]
    )
    torch.testing.assert_close(shuffled, whole_batch[order])


def test_agi_is_independent_of_the_batch(tiny_cnn, images, labels):
    classes = torch.tensor([[1, 2], [0, 4], [1, 3], [2, 4]])
    for mode in ESTIMATORS:
        agi = AdversarialGradientIntegration(2, 3, estimator=mode)
        full = agi(tiny_cnn, images, labels, classes=classes)
        part = AdversarialGradientIntegration(2, 3, estimator=mode, internal_batch_size=3)(
            tiny_cnn, images[1:3], labels[1:3], classes=classes[1:3]
        )
        torch.testing.assert_close(part, full[1:3])


def test_recalibrated_wrapper_equals_the_estimator_argument_and_leaves_the_method_alone(tiny_cnn, images, labels):
    method = IGUniform(2, 3)
    refs = torch.rand(4, 2, 3, 8, 8)
    wrapped = Recalibrated(method, "valid_ref")
    assert method.estimator == "vanilla"
    torch.testing.assert_close(
        wrapped(tiny_cnn, images, labels, references=refs),
        IGUniform(2, 3, estimator="valid_ref")(tiny_cnn, images, labels, references=refs),
    )
    assert repr(wrapped).startswith("Recalibrated(IGUniform(") and repr(wrapped).endswith("mode='valid_ref')")


def test_create_graph_through_the_recalibrated_estimator():
    model = TinyCNN()
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    with softplus_surrogate(model):
        attr = Recalibrated(IGUniform(2, 2))(model, x, torch.tensor([0, 1]), create_graph=True)
        (grad,) = torch.autograd.grad(attr.sum(), x)
    assert grad.abs().sum() > 0


def test_accumulator_streams_in_any_order():
    g, d = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    a = torch.rand(2, 6)
    j, m = torch.arange(6) // 2, torch.arange(6) % 2
    from robattr.attribution import PathChunk

    for estimator in ESTIMATORS:
        one = PathAccumulator(estimator, torch.full((2, 3), 1 / 3), torch.full((2,), 0.5))
        one.update(PathChunk(g, d, a, j, m))
        two = PathAccumulator(estimator, torch.full((2, 3), 1 / 3), torch.full((2,), 0.5))
        for idx in (torch.tensor([5, 0]), torch.tensor([3, 1, 4]), torch.tensor([2])):
            two.update(PathChunk(g[:, idx], d[:, idx], a[:, idx], j[idx], m[idx]))
        torch.testing.assert_close(one.compute(), two.compute())


def test_bad_arguments():
    with pytest.raises(ValueError, match=whole("Expected `n_references` to be a positive integer, but got 0")):
        IGUniform(n_references=0)
    with pytest.raises(ValueError, match=whole("Expected `n_points` to be a positive integer, but got -1")):
        ExpectedGradients(n_points=-1)
    with pytest.raises(
        ValueError,
        match=whole("Expected `estimator` to be one of ['vanilla', 'valid_ip', 'valid_ref'], but got 'valid'"),
    ):
        IGSmoothGrad(estimator="valid")
    with pytest.raises(
        ValueError, match=whole("Expected `estimator` to be one of ['vanilla', 'valid_ip', 'valid_ref'], but got 'abs'")
    ):
        Recalibrated(IGUniform(), "abs")
    with pytest.raises(
        TypeError,
        match=whole("Expected `method` to be a PathIntegral (an integral attribution method), but got Saliency"),
    ):
        from robattr.attribution import Saliency

        Recalibrated(Saliency())
    with pytest.raises(
        ValueError, match=whole("Expected `internal_batch_size` to be a positive integer or None, but got 0")
    ):
        IGUniform(internal_batch_size=0)
    with pytest.raises(ValueError, match=whole("Expected `references` of shape (2, R, 3, 8, 8), but got (2, 3, 8, 8)")):
        IGUniform()(TinyCNN(), torch.rand(2, 3, 8, 8), 0, references=torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=whole("Expected `alphas` of shape (2 or 1, 1, 5), but got (2, 1, 4)")):
        IGUniform()(
            TinyCNN(), torch.rand(2, 3, 8, 8), 0, references=torch.rand(2, 1, 3, 8, 8), alphas=torch.rand(2, 1, 4)
        )
