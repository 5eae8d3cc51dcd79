"""Cascading parameter randomisation (robattr/models/randomization.py), the model side of the sanity check."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.models import MnistCNN
from robattr.models.randomization import cascading_randomization, randomization_order


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_cascade_randomises_one_more_layer_per_stage_on_a_copy():
    model = MnistCNN()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    order = randomization_order(model)
    for stage, (name, randomized) in enumerate(
        cascading_randomization(model, generator=torch.Generator().manual_seed(0))
    ):
        assert name == order[stage]
        for i, layer in enumerate(order):
            changed = not torch.equal(randomized.get_submodule(layer).weight, original[f"{layer}.weight"])
            assert changed == (i <= stage)
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())


def test_normal_redraw_keeps_the_moments():
    model = MnistCNN()
    _, randomized = next(
        cascading_randomization(model, layers=["classifier.1"], generator=torch.Generator().manual_seed(0))
    )
    w, w0 = randomized.classifier[1].weight, model.classifier[1].weight
    assert abs(w.mean() - w0.mean()) < 1e-3 and abs(w.std() - w0.std()) < 1e-3
    torch.testing.assert_close(randomized.classifier[1].bias, model.classifier[1].bias)  # constant biases stay constant


def test_bad_arguments():
    with pytest.raises(ValueError, match=whole("Expected `layers` to name modules of the model, but got ['fc']")):
        next(cascading_randomization(MnistCNN(), layers=["fc"]))
    with pytest.raises(ValueError, match=whole("Expected `mode` to be one of ['normal', 'reset'], but got 'zero'")):
        next(cascading_randomization(MnistCNN(), mode="zero"))
