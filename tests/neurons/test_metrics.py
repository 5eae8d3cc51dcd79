"""Label-change fractions, attack success and exemplar overlap on hand-made dissection results."""

from __future__ import annotations

import math
import re

import pytest
import torch

from robattr.neurons import (
    DissectionResult,
    attack_success,
    changed_fraction,
    corruption_summary,
    exemplar_overlap,
    iou_change,
)

PRIMARY = torch.tensor([-1, 0, 0, 1])


def _result(inter: list[list[int]]) -> DissectionResult:
    k = len(inter)
    return DissectionResult(
        layer="pool",
        quantile=0.005,
        thresholds=torch.zeros(k),
        intersection=torch.tensor(inter),
        unit_category=torch.full((k, 2), 10),
        label_count=torch.tensor([0, 10, 10, 10]),
        unit_count=torch.full((k,), 10),
        primary_category=PRIMARY,
        label_names=["", "red", "green", "indoor"],
        categories=["color", "scene"],
        num_images=4,
        exemplar_indices=torch.zeros(k, 1, dtype=torch.long),
        exemplar_values=torch.zeros(k, 1),
    )


def test_changed_fractions_over_all_and_interpretable_units():
    # IoU = I / (20 - I): 9 -> 0.818, 1 -> 0.053, 0.5 never; unit 2 is not interpretable (IoU 0.0256)
    clean = _result([[0, 9, 1, 0], [0, 1, 9, 0], [0, 0, 0, 0]])
    after = _result([[0, 1, 9, 0], [0, 1, 9, 0], [0, 0, 0, 0]])
    out = changed_fraction(clean, after)
    assert out["units/all"] == 3 and out["units/interpretable"] == 2
    assert out["changed/all"] == pytest.approx(1 / 3) and out["changed/interpretable"] == pytest.approx(1 / 2)
    assert out["lost/interpretable"] == 0.0
    assert attack_success(clean, after, 0, target_label=2) and attack_success(clean, after, 0)
    assert not attack_success(clean, after, 1)
    delta = iou_change(clean, after)
    assert delta[0] == pytest.approx(1 / 19 - 9 / 11) and delta[1] == 0
    summary = corruption_summary(clean, after, prefix="noise/")
    assert summary["noise/iou_change/all"] == pytest.approx(float(delta.mean()))


def test_a_collapsed_unit_keeps_its_label_but_loses_interpretability():
    clean = _result([[0, 9, 0, 0]])
    after = _result([[0, 0, 0, 0]])
    out = changed_fraction(clean, after)
    assert out["changed/all"] == 0.0 and out["lost/interpretable"] == 1.0
    none = changed_fraction(after, after)
    assert math.isnan(none["changed/interpretable"])


def test_exemplar_overlap():
    assert exemplar_overlap(torch.tensor([1, 2, 3]), torch.tensor([3, 2, 1])) == 1.0
    with pytest.raises(ValueError, match=re.escape("Expected a non-empty exemplar set `a`, but got an empty one")):
        exemplar_overlap(torch.tensor([]), torch.tensor([1]))
