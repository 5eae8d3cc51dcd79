"""Network Dissection end to end on the generated probing set."""

from __future__ import annotations

import csv
import json
import os
import re

import pytest
import torch

from robattr.models import PlantedUnitCNN, TorchvisionClassifier
from robattr.neurons import DissectionResult, LayerActivations, NetworkDissection
from robattr.neurons.quantile import unit_quantile_reference
from robattr.neurons.report import save_result, write_tensorboard

PLANTED = {0: "red", 1: "red", 2: "blue", 3: "green", 5: "yellow"}


def test_planted_units_get_their_planted_labels(clean_result):
    names = clean_result.names()
    for unit, concept in PLANTED.items():
        assert names[unit] == concept
        assert clean_result.score[unit] > 0.04
    assert clean_result.categories[int(clean_result.concepts.category[1])] == "color"


def test_thresholds_are_the_exact_top_quantile(planted, small_set):
    result = NetworkDissection("pool", progress=False)(planted, small_set)
    with torch.no_grad():
        acts = torch.cat([planted.features(b.images) for b in small_set.loader(64, images_only=True)])
    assert torch.equal(result.thresholds, unit_quantile_reference(acts, 0.995))
    spatial_max = acts.amax(dim=(2, 3))  # (N, K)
    best = spatial_max.argmax(0)
    assert torch.equal(result.exemplar_indices[:, 0], best)


def test_batch_size_one_and_64_agree(small_set):
    # float64: CPU convolutions are bitwise batch-invariant only in double; the dissection itself is exact
    model = PlantedUnitCNN().double()
    a = NetworkDissection("pool", batch_size=64, progress=False)(model, small_set)
    b = NetworkDissection("pool", batch_size=1, progress=False)(model, small_set)
    assert torch.equal(a.thresholds, b.thresholds)
    assert torch.equal(a.iou, b.iou) and torch.equal(a.label, b.label)
    assert torch.equal(a.exemplar_indices, b.exemplar_indices)
    # float32 kernels differ in the last bits between batch sizes: thresholds agree closely, labels exactly
    c = NetworkDissection("pool", batch_size=64, progress=False)(PlantedUnitCNN(), small_set)
    d = NetworkDissection("pool", batch_size=1, progress=False)(PlantedUnitCNN(), small_set)
    torch.testing.assert_close(c.thresholds, d.thresholds, atol=1e-5, rtol=0)
    assert torch.equal(c.label, d.label)


def test_torchvision_resnet_layer4_through_the_hook(small_set):
    torch.manual_seed(0)
    model = TorchvisionClassifier("resnet18", num_classes=4)
    acts = LayerActivations(model, "net.layer4")(torch.rand(2, 3, 64, 64))
    assert acts.shape == (2, 512, 2, 2)
    result = NetworkDissection("net.layer4", progress=False)(model, small_set)
    assert result.iou.shape == (512, small_set.num_labels) and result.label.shape == (512,)
    assert model.training  # restored after the run


def test_bad_layer_name_fails_with_a_clear_message(planted, small_set):
    names = "['conv', 'act', 'pool', 'head']"
    message = f"Expected `layer` to name a submodule of PlantedUnitCNN (one of {names}), but got 'conv9'"
    with pytest.raises(ValueError, match=re.escape(message)):
        NetworkDissection("conv9", progress=False)(planted, small_set)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantile": 1.5}, "Expected `quantile` to be a float in (0, 1), but got 1.5"),
        ({"batch_size": 0}, "Expected `batch_size` to be a positive integer, but got 0"),
        ({"layer": ""}, "Expected `layer` to be a non-empty module name, but got ''"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        NetworkDissection(**{"layer": "pool", **kwargs})


def test_results_are_written_and_reload(clean_result, planted, probing_set, tmp_path):
    save_result(clean_result, str(tmp_path))
    with open(tmp_path / "tally.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows][:4] == ["red", "red", "blue", "green"]
    assert {"color-iou", "top5-label", "scene-activation"} <= set(rows[0])
    summary = json.loads((tmp_path / "result.json").read_text())
    assert summary["num_units"] == 6 and summary["units"][3]["label"] == "green"
    again = DissectionResult.load(str(tmp_path))
    assert torch.equal(again.iou, clean_result.iou) and again.names() == clean_result.names()
    write_tensorboard(clean_result, str(tmp_path / "tb"), planted, probing_set, n_units=2, n_exemplars=2)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))
