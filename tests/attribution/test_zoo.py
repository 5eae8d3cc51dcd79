"""Every method by name: input shape in, input shape out; re-calibrated integral methods are non-negative."""

from __future__ import annotations

import pytest
import torch

from robattr.attribution import METHODS, PathIntegral, Recalibrated, attribution_grid, colorize, create_attribution
from robattr.models import MnistCNN
from tests.attribution.conftest import whole

SMALL = {
    "smoothgrad": {"n_samples": 2},
    "ig": {"n_steps": 3},
    "ig_uniform": {"n_references": 2, "n_points": 2},
    "ig_sg": {"n_references": 2, "n_points": 2},
    "ig_sq": {"n_references": 2, "n_points": 2},
    "eg": {"n_references": 2, "n_points": 2},
    "agi": {"n_classes": 2, "n_steps": 2},
    "lpi": {"n_prototypes": 2, "n_points": 2},
    "gradient_shap": {"n_samples": 2},
}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    return MnistCNN().eval(), torch.rand(2, 1, 28, 28), torch.tensor([3, 8]), torch.rand(8, 1, 28, 28)


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_returns_the_input_shape(name, setup):
    model, x, y, train = setup
    method = create_attribution(name, **SMALL.get(name, {}))
    if getattr(method, "requires_fit", False):
        method.fit(model, train)
    attr = method(model, x, y)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    if isinstance(method, PathIntegral):
        recal = Recalibrated(method)(model, x, y)
        assert recal.shape == x.shape and (recal >= 0).all()


def test_recalibration_by_name():
    method = create_attribution("ig_sg", recalibration="valid_ref", n_references=3)
    assert isinstance(method, Recalibrated) and method.mode == "valid_ref" and method.method.n_references == 3


def test_bad_names():
    with pytest.raises(
        ValueError, match=whole(f"Expected `name` to be one of {sorted(METHODS)}, but got 'integrated_gradients'")
    ):
        create_attribution("integrated_gradients")
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected `recalibration` to be 'vanilla' for 'gradcam', which is not an integral method, but got"
            " 'valid_ip'"
        ),
    ):
        create_attribution("gradcam", recalibration="valid_ip")


def test_grid_and_colormap():
    rgb = colorize(torch.tensor([[[0.0, 0.5, 1.0]]]), "coolwarm")
    torch.testing.assert_close(rgb[0, :, 0, 1], torch.tensor([0.865, 0.865, 0.865]))
    grid = attribution_grid(torch.rand(3, 3, 10, 10), {"a": torch.randn(3, 10, 10)}, signed=True, padding=0)
    assert grid.shape == (3, 30, 20) and grid.min() >= 0 and grid.max() <= 1
    with pytest.raises(ValueError, match=whole("Expected map 'a' of shape (3, 10, 10), but got (3, 9, 9)")):
        attribution_grid(torch.rand(3, 3, 10, 10), {"a": torch.rand(3, 9, 9)})
