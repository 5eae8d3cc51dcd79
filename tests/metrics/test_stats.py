"""Tests of the uncertainty of every per-sample mean (robattr/metrics/_base.py): mean, standard error and n."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics import MetricCollection

from robattr.metrics import KendallTau, MeanScore, SanityCheck, TopKIntersection, metric_stats
from robattr.metrics.functional import kendall_tau, topk_intersection
from tests.helpers.testers import whole


def _maps(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    clean = torch.rand(n, 8, 9, generator=g)
    return clean, clean + 0.5 * torch.rand(n, 8, 9, generator=g)


@pytest.mark.parametrize(
    ("metric", "function"),
    [
        (lambda: TopKIntersection(k=9), lambda a, b: topk_intersection(a, b, 9, reduction="none")),
        (KendallTau, lambda a, b: kendall_tau(a, b, reduction="none")),
    ],
)
def test_stats_equal_numpy_mean_and_standard_error(metric, function) -> None:  # noqa: ANN001
    clean, perturbed = _maps()
    valid = torch.arange(12) % 4 != 1
    m = metric()
    m.update(clean[:5], perturbed[:5], valid=valid[:5])
    m.update(clean[5:], perturbed[5:], valid=valid[5:])
    scores = function(clean, perturbed)[valid].double().numpy()
    stats = m.compute_stats()
    assert set(stats) == {"mean", "se", "n"}
    assert int(stats["n"]) == 9
    assert float(stats["mean"]) == pytest.approx(scores.mean(), abs=1e-6)
    assert float(stats["se"]) == pytest.approx(scores.std(ddof=1) / math.sqrt(9), rel=1e-6)
    torch.testing.assert_close(stats["mean"], m.compute())


def test_standard_error_is_nan_below_two_samples_and_mean_nan_at_zero() -> None:
    metric = MeanScore()
    stats = metric.compute_stats()
    assert int(stats["n"]) == 0 and math.isnan(float(stats["mean"])) and math.isnan(float(stats["se"]))
    metric.update(torch.tensor([0.5]))
    stats = metric.compute_stats()
    assert int(stats["n"]) == 1 and float(stats["mean"]) == 0.5 and math.isnan(float(stats["se"]))
    metric.update(torch.tensor([0.5, 0.5]))  # zero variance: se exactly 0, never a negative rounding error
    assert float(metric.compute_stats()["se"]) == 0.0


def test_constant_offset_does_not_cancel() -> None:
    """The float64 sum of squares keeps the standard error of scores near 1 with a tiny spread."""
    values = torch.tensor(1.0 + 1e-4 * np.random.default_rng(0).standard_normal(1000), dtype=torch.float64)
    metric = MeanScore()
    metric.update(values)
    want = values.numpy().std(ddof=1) / math.sqrt(1000)
    assert float(metric.compute_stats()["se"]) == pytest.approx(want, rel=1e-4)


def test_metric_stats_of_a_collection_and_of_stage_metrics() -> None:
    clean, perturbed = _maps()
    collection = MetricCollection({"topk": TopKIntersection(k=9), "kendall": KendallTau()}, compute_groups=False)
    collection.update(clean, perturbed)
    stats = metric_stats(collection)
    assert set(stats) == {"topk", "kendall"}
    torch.testing.assert_close(stats["topk"]["mean"], collection.compute()["topk"])
    sanity = SanityCheck(num_stages=2)
    sanity.update(clean, perturbed, stage=0)
    stage_stats = sanity.compute_stats()
    assert stage_stats["n"].tolist() == [12, 0] and math.isnan(float(stage_stats["se"][1]))
    with pytest.raises(
        TypeError, match=whole("Expected `metric` to have a compute_stats method, but got MeanSquaredError")
    ):
        from torchmetrics import MeanSquaredError

        metric_stats(MeanSquaredError())
