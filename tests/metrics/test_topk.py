"""Tests of robattr/metrics/functional/topk.py and robattr/metrics/topk.py: top-k intersection and LENS."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from robattr.metrics import LENSPrecision, LENSRecall, TopKIntersection
from robattr.metrics.functional import lens_precision, lens_recall, topk_intersection
from tests.helpers.testers import check_metric_class, whole
from tests.metrics._references import ref_lens_recall


def _pairs(seed: int, n: int = 8, h: int = 7, w: int = 9, ties: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, h, w, generator=g)
    perturbed = clean + 0.5 * torch.rand(n, h, w, generator=g)
    if ties:  # many exact zeros (MNIST IG with a zero baseline), a few repeated values
        clean = (clean > 0.7) * torch.randint(1, 3, (n, h, w), generator=g).float()
        perturbed = (perturbed > 1.0) * torch.randint(1, 3, (n, h, w), generator=g).float()
    return clean, perturbed


def _smooth(n: int, size: int, seed: int, sigma_px: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, size, size, generator=g)
    kernel = 2 * sigma_px + 1
    return F.avg_pool2d(F.avg_pool2d(noise, kernel, 1, sigma_px, count_include_pad=False), kernel, 1, sigma_px).squeeze(
        1
    )


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("flat_index", [False, True])
@pytest.mark.parametrize("radius", [0, 1, 2])
def test_lens_matches_loop_reference(radius: int, flat_index: bool, ties: bool) -> None:
    clean, perturbed = _pairs(radius + 10 * ties, ties=ties)
    for k in (1, 6, 20):
        recall = lens_recall(clean, perturbed, k, radius, flat_index, reduction="none")
        precision = lens_precision(clean, perturbed, k, radius, flat_index, reduction="none")
        for i, (a, b) in enumerate(zip(clean.numpy(), perturbed.numpy())):
            assert recall[i].item() == pytest.approx(ref_lens_recall(a, b, k, radius, flat_index))
            assert precision[i].item() == pytest.approx(ref_lens_recall(b, a, k, radius, flat_index))


@pytest.mark.parametrize("ties", [False, True])
def test_topk_intersection_matches_reference(ties: bool) -> None:
    clean, perturbed = _pairs(3, ties=ties)
    for k in (1, 10, 62):
        scores = topk_intersection(clean, perturbed, k, reduction="none")
        expected = [ref_lens_recall(a, b, k, 0) for a, b in zip(clean.numpy(), perturbed.numpy())]
        torch.testing.assert_close(scores, torch.tensor(expected))
        assert topk_intersection(clean, perturbed, k).item() == pytest.approx(sum(expected) / len(expected))


def test_invariants() -> None:
    clean, perturbed = _pairs(4, n=16, h=12, w=12)
    for k in (5, 30):
        topk = topk_intersection(clean, perturbed, k, reduction="none")
        previous = topk
        for radius in range(0, 4):
            recall = lens_recall(clean, perturbed, k, radius, reduction="none")
            precision = lens_precision(clean, perturbed, k, radius, reduction="none")
            assert (topk <= recall).all() and (topk <= precision).all()
            assert (previous <= recall).all() and (recall <= 1).all() and (precision <= 1).all()
            torch.testing.assert_close(precision, lens_recall(perturbed, clean, k, radius, reduction="none"))
            previous = recall
        torch.testing.assert_close(lens_recall(clean, perturbed, k, 0, reduction="none"), topk)
        assert topk_intersection(clean, clean, k) == 1.0


def test_one_pixel_shift_collapses_topk_not_lens() -> None:
    maps = _smooth(4, 64, seed=5, sigma_px=1)
    shifted = torch.roll(maps, shifts=1, dims=2)
    k = 200
    topk = topk_intersection(maps, shifted, k)
    lens = lens_recall(maps, shifted, k, radius=1)
    noise = torch.rand(4, 64, 64, generator=torch.Generator().manual_seed(6))
    assert topk < 0.8 and lens > 0.97
    # i.i.d. noise: a one-pixel shift destroys top-k entirely, LENS barely notices (spec 4.3 shift test)
    assert topk_intersection(noise, noise.roll(1, 2), k) < 0.2
    assert lens_recall(noise, noise.roll(1, 2), k) > 0.95


def test_dtypes_and_reduction() -> None:
    clean, perturbed = _pairs(7)
    assert topk_intersection(clean.double(), perturbed.double(), 5).dtype == torch.float64
    assert lens_recall(clean, perturbed, 5, reduction="none").shape == (8,)
    ints = (clean * 10).long()
    assert topk_intersection(ints, ints, 5).dtype == torch.float32


def test_errors() -> None:
    a = torch.rand(2, 28, 28)
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 1000")):
        topk_intersection(a, a, 1000)
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 0")):
        lens_recall(a, a, 0)
    with pytest.raises(ValueError, match=whole("Expected `radius` to be a non-negative integer, but got -2")):
        lens_precision(a, a, 10, radius=-2)
    with pytest.raises(
        ValueError,
        match=whole("Expected `clean` and `perturbed` to have the same shape, but got (2, 28, 28) and (2, 28, 27)"),
    ):
        lens_recall(a, a[..., :-1], 10)
    with pytest.raises(
        ValueError, match=whole("Expected `clean` to be a 3-D tensor of shape (N, H, W), but got shape (2, 1, 28, 28)")
    ):
        topk_intersection(a.unsqueeze(1), a.unsqueeze(1), 10)
    with pytest.raises(ValueError, match=whole("Expected `reduction` to be one of ['mean', 'none'], but got 'sum'")):
        topk_intersection(a, a, 10, reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=whole("Expected `perturbed` to be a torch.Tensor, but got ndarray")):
        topk_intersection(a, a.numpy(), 10)  # type: ignore[arg-type]


def test_class_errors_at_init() -> None:
    with pytest.raises(ValueError, match=whole("Expected `k` to be a positive integer, but got 0")):
        TopKIntersection(k=0)
    with pytest.raises(TypeError, match=whole("Expected `k` to be a positive integer, but got '100'")):
        LENSRecall(k="100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=whole("Expected `radius` to be a non-negative integer, but got -1")):
        LENSPrecision(k=10, radius=-1)
    with pytest.raises(TypeError, match=whole("Expected `flat_index` to be a bool, but got 'yes'")):
        LENSRecall(k=10, flat_index="yes")  # type: ignore[arg-type]
    metric = TopKIntersection(k=1000)
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 1000")):
        metric.update(torch.rand(2, 28, 28), torch.rand(2, 28, 28))
    with pytest.raises(
        ValueError,
        match=whole("Expected `valid` to be a bool tensor of shape (2,), but got torch.int64 tensor of shape (2,)"),
    ):
        TopKIntersection(k=5).update(torch.rand(2, 8, 8), torch.rand(2, 8, 8), valid=torch.tensor([1, 0]))


@pytest.mark.parametrize("with_valid", [False, True])
@pytest.mark.parametrize(
    ("make_metric", "function"),
    [
        (lambda: TopKIntersection(k=6), lambda a, b: topk_intersection(a, b, 6)),
        (lambda: LENSRecall(k=6, radius=1), lambda a, b: lens_recall(a, b, 6, 1)),
        (lambda: LENSRecall(k=6, radius=2, flat_index=True), lambda a, b: lens_recall(a, b, 6, 2, True)),
        (lambda: LENSPrecision(k=6, radius=1), lambda a, b: lens_precision(a, b, 6, 1)),
    ],
)
def test_classes_accumulate_like_functional(make_metric, function, with_valid: bool) -> None:  # noqa: ANN001
    clean, perturbed = _pairs(8, n=10)
    valid = torch.tensor([True, False, True, True, False, True, True, True, False, True]) if with_valid else None
    metric = make_metric()
    check_metric_class(metric, function, (clean, perturbed), valid)
    assert metric.higher_is_better is True and metric.is_differentiable is False and metric.full_state_update is False
