"""Tests of robattr/metrics/functional/lens_rank_correlation.py and its classes (robattr's own variant)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from robattr.metrics import LENSKendallTau, LENSSpearmanRho
from robattr.metrics.functional import kendall_tau, lens_kendall_tau, lens_spearman, spearman
from tests.helpers.testers import check_metric_class, whole


def _dilate(maps: torch.Tensor, radius: int) -> np.ndarray:
    size = 2 * radius + 1
    return np.stack([ndimage.maximum_filter(m, size=size, mode="constant", cval=-np.inf) for m in maps.numpy()])


def ref(fn, clean: torch.Tensor, perturbed: torch.Tensor, radius: int) -> torch.Tensor:  # noqa: ANN001
    a, b = _dilate(clean, radius), _dilate(perturbed, radius)
    return torch.tensor([fn(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)], dtype=torch.float64)


def _inputs(seed: int = 0, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 10, 12, generator=g) * (torch.rand(n, 10, 12, generator=g) > 0.5)
    return clean, clean.roll(1, 2) + 0.1 * torch.rand(n, 10, 12, generator=g)


@pytest.mark.parametrize("radius", [1, 2])
def test_against_scipy_on_max_filtered_maps(radius: int) -> None:
    clean, perturbed = _inputs(radius)
    got = lens_kendall_tau(clean, perturbed, radius, reduction="none").double()
    torch.testing.assert_close(got, ref(stats.kendalltau, clean, perturbed, radius))
    got = lens_spearman(clean, perturbed, radius, reduction="none").double()
    torch.testing.assert_close(got, ref(stats.spearmanr, clean, perturbed, radius))


def test_radius_zero_is_plain_and_shift_is_forgiven() -> None:
    clean, perturbed = _inputs(3)
    torch.testing.assert_close(lens_kendall_tau(clean, perturbed, 0), kendall_tau(clean, perturbed))
    torch.testing.assert_close(lens_spearman(clean, perturbed, 0), spearman(clean, perturbed))
    assert lens_kendall_tau(clean, perturbed, 1) > kendall_tau(clean, perturbed)


def test_negative_maps_use_minus_infinity_padding() -> None:
    clean = -torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(4)) - 1.0
    perturbed = clean.flip(2)
    torch.testing.assert_close(
        lens_kendall_tau(clean, perturbed, 1, reduction="none").double(), ref(stats.kendalltau, clean, perturbed, 1)
    )


def test_errors() -> None:
    a = torch.rand(2, 5, 5)
    with pytest.raises(ValueError, match=whole("Expected `radius` to be a non-negative integer, but got -1")):
        lens_kendall_tau(a, a, -1)
    with pytest.raises(TypeError, match=whole("Expected `radius` to be a non-negative integer, but got 1.5")):
        LENSSpearmanRho(radius=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make_metric", "reference"),
    [
        (lambda: LENSKendallTau(radius=1), lambda a, b: ref(stats.kendalltau, a, b, 1).mean()),
        (lambda: LENSSpearmanRho(radius=2), lambda a, b: ref(stats.spearmanr, a, b, 2).mean()),
    ],
)
def test_classes_accumulate_like_reference(make_metric, reference) -> None:  # noqa: ANN001
    clean, perturbed = _inputs(5, n=8)
    check_metric_class(make_metric(), reference, (clean, perturbed), torch.arange(8) % 3 != 1)
