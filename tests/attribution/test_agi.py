"""AGI against its closed form on a linear model, and its class draw."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robattr.attribution import AdversarialGradientIntegration, Recalibrated
from tests.attribution.conftest import whole


def linear_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(4, 6))
    return model


def test_closed_form_on_a_linear_model():
    """Gradients are rows of W: p = clip(x + eps sign(W_c)) at every step, d = W_t * (x - p)."""
    model = linear_model()
    w = model[1].weight.detach()
    x = torch.rand(2, 1, 2, 3) * 0.8 + 0.1
    target, classes = torch.tensor([0, 1]), torch.tensor([[1, 2], [3, 0]])
    expected = {}
    for mode in ("vanilla", "valid_ip", "valid_ref"):
        rows = []
        for i in range(2):
            d = torch.stack(
                [
                    w[target[i]] * (x[i].flatten() - (x[i].flatten() + 0.05 * w[c].sign()).clamp(0, 1))
                    for c in classes[i]
                ]
            )
            if mode == "vanilla":
                rows.append(d.mean(0))
            elif mode == "valid_ip":  # every step of a class lands on the same point: same d, counted 3 times
                v = (d >= 0).float()
                rows.append(torch.where(v.sum(0) > 0, (v * d).sum(0) / v.sum(0).clamp_min(1), torch.zeros(6)))
            else:
                rows.append(
                    torch.where(
                        (d >= 0).sum(0) > 0, (d.clamp_min(0)).sum(0) / (d >= 0).sum(0).clamp_min(1), torch.zeros(6)
                    )
                )
        expected[mode] = torch.stack(rows).view(2, 1, 2, 3)
        agi = AdversarialGradientIntegration(n_classes=2, n_steps=3, epsilon=0.05, estimator=mode)
        torch.testing.assert_close(agi(model, x, target, classes=classes), expected[mode])


def test_false_classes_are_distinct_and_never_the_label():
    model = linear_model()
    x, target = torch.rand(50, 1, 2, 3), torch.randint(0, 4, (50,))
    classes = AdversarialGradientIntegration(n_classes=3).plan(model, x, target)["classes"]
    assert classes.shape == (50, 3)
    assert not (classes == target[:, None]).any()
    assert all(len(set(row.tolist())) == 3 for row in classes)


def test_too_many_classes():
    agi = AdversarialGradientIntegration(n_classes=4)
    with pytest.raises(
        ValueError, match=whole("Expected `n_classes` to be at most 3 (the model's classes minus the label), but got 4")
    ):
        agi(linear_model(), torch.rand(2, 1, 2, 3), 0)


def test_recalibrated_agi_is_non_negative(tiny_cnn, images, labels):
    assert (Recalibrated(AdversarialGradientIntegration(2, 2))(tiny_cnn, images, labels) >= 0).all()


def test_bad_epsilon():
    with pytest.raises(ValueError, match=whole("Expected `epsilon` to be a positive float, but got 0.0")):
        AdversarialGradientIntegration(epsilon=0.0)
