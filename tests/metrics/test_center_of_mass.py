"""Tests of robattr/metrics/functional/center_of_mass.py and robattr/metrics/center_of_mass.py."""

from __future__ import annotations

import pytest
import torch

from robattr.metrics import CenterOfMassShift
from robattr.metrics.functional import center_of_mass, center_of_mass_shift
from tests.helpers.testers import check_metric_class, whole
from tests.metrics._references import ref_center_of_mass_shift


def _inputs(seed: int = 0, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 12, 15, generator=g) ** 4
    return clean, torch.rand(n, 12, 15, generator=g) ** 4


def ref(clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    values = [ref_center_of_mass_shift(a, b) for a, b in zip(clean.double().numpy(), perturbed.double().numpy())]
    return torch.tensor(values, dtype=torch.float64)


def test_against_loop_reference() -> None:
    clean, perturbed = _inputs()
    perturbed[0] = 0.0  # all-zero map: the image centre
    torch.testing.assert_close(center_of_mass_shift(clean, perturbed, reduction="none").double(), ref(clean, perturbed))


def test_centre_and_truncation() -> None:
    maps = torch.zeros(2, 4, 5)
    maps[0, 1, 1] = maps[0, 2, 2] = 1.0  # centre (1.5, 1.5), truncated to (1, 1)
    torch.testing.assert_close(center_of_mass(maps), torch.tensor([[1.5, 1.5], [1.5, 2.0]]))
    moved = torch.zeros(2, 4, 5)
    moved[0, 1, 1] = 1.0  # centre (1, 1): same truncated centre, no shift
    assert center_of_mass_shift(maps[:1], moved[:1]).item() == 0.0
    assert center_of_mass_shift(maps, maps).item() == 0.0


def test_center_of_mass_is_differentiable() -> None:
    maps = torch.rand(2, 6, 6, requires_grad=True)
    center_of_mass(maps).sum().backward()
    assert maps.grad is not None and maps.grad.abs().sum() > 0


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=whole("Expected `maps` to be a 3-D tensor of shape (N, H, W), but got shape (5,)")
    ):
        center_of_mass(torch.rand(5))


def test_class_accumulates_like_reference() -> None:
    clean, perturbed = _inputs(1, n=10)
    metric = CenterOfMassShift()
    check_metric_class(metric, lambda a, b: ref(a, b).mean(), (clean, perturbed), torch.arange(10) % 4 != 0)
    assert metric.higher_is_better is False


def test_negative_maps_are_rejected_naming_the_argument() -> None:
    clean = torch.rand(2, 8, 8)
    signed = clean - 0.5  # sums to about zero: its "centre" would lie far outside the image
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected `perturbed` to be non-negative (a map such as sum_c |A|), but got a minimum of"
            f" {float(signed.min())}"
        ),
    ):
        center_of_mass_shift(clean, signed)
    with pytest.raises(ValueError, match=r"^Expected `clean` to be non-negative"):
        CenterOfMassShift().update(signed, clean)
    with pytest.raises(ValueError, match=r"^Expected `maps` to be non-negative"):
        center_of_mass(signed)
    assert center_of_mass_shift(clean, signed.abs()).isfinite()  # a chosen meaning: |A|
