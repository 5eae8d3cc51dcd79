"""Tests of robattr/metrics/mean_score.py."""

from __future__ import annotations

import pytest
import torch

from robattr.metrics import MeanScore
from tests.helpers.testers import check_metric_class, whole


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32])
def test_mean_over_valid_samples(dtype: torch.dtype) -> None:
    values = (torch.arange(11) % 3 == 0).to(dtype)
    valid = torch.arange(11) % 5 != 2
    check_metric_class(MeanScore(), lambda v: v.double().mean(), (values,), valid)


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=whole("Expected `values` to be a 1-D tensor of shape (N,), but got shape (2, 2)")
    ):
        MeanScore().update(torch.ones(2, 2))
    with pytest.raises(
        ValueError,
        match=whole("Expected `valid` to be a bool tensor of shape (3,), but got torch.bool tensor of shape (2,)"),
    ):
        MeanScore().update(torch.ones(3), valid=torch.ones(2, dtype=torch.bool))


def test_nothing_valid_is_nan() -> None:
    metric = MeanScore()
    metric.update(torch.ones(2), valid=torch.zeros(2, dtype=torch.bool))
    assert torch.isnan(metric.compute())


def test_non_finite_values_are_errors() -> None:
    metric = MeanScore()
    with pytest.raises(
        ValueError, match=whole("Expected `values` to hold only finite values, but got 1 NaN or infinite of 3 entries")
    ):
        metric.update(torch.tensor([1.0, float("nan"), 0.0]))
    with pytest.raises(TypeError, match=whole("Expected `values` to be a torch.Tensor, but got list")):
        metric.update([1.0, 0.0])  # type: ignore[arg-type]
    assert int(metric.total) == 0
