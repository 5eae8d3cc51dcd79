"""Tests of robattr/metrics/functional/topk_div.py and robattr/metrics/topk_div.py: greedy diverse top-k."""

from __future__ import annotations

import itertools

import pytest
import torch

from robattr.metrics import LENSPrecisionDiv, LENSRecallDiv, TopKDivIntersection, TopKDivScores
from robattr.metrics.functional import (
    _utils,
    lens_precision_div,
    lens_recall_div,
    topk_div_intersection,
    topk_div_mask,
    topk_div_scores,
    topk_mask,
)
from tests.helpers.testers import check_metric_class, whole
from tests.metrics._references import ref_lens_recall_div, ref_neighbourhood, ref_released_topk_div, ref_topk_div


def _maps(seed: int, n: int, h: int, w: int, kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "float":
        return torch.rand(n, h, w, generator=g)
    if kind == "ties":  # few distinct values: ties decided by the flat index
        return torch.randint(0, 3, (n, h, w), generator=g).float()
    if kind == "signed":  # negative values, -0.0 tied with +0.0, float32 extremes
        values = torch.tensor([-3e38, -2.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 3e38])
        return values[torch.randint(0, 8, (n, h, w), generator=g)]
    return torch.rand(n, h, w, generator=g) * (torch.rand(n, h, w, generator=g) > 0.7)  # "sparse": zeros tie


def _use_sort_path(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``packed``: one numpy sort of packed float32 keys (CPU default); ``numpy``: numpy argsorts (CPU float64 and
    integers); ``torch``: torch's stable sort (the CUDA path)."""
    if path != "packed":
        monkeypatch.setattr(_utils, "_PACKABLE", ())
    if path == "torch":
        monkeypatch.setattr(_utils, "_NUMPY_SORTABLE", ())


def _picks(mask: torch.Tensor) -> set[int]:
    return set(torch.nonzero(mask.flatten()).flatten().tolist())


@pytest.mark.parametrize("sort_path", ["packed", "numpy", "torch"])
@pytest.mark.parametrize("kind", ["float", "ties", "sparse", "signed"])
def test_selection_matches_greedy_loop(kind: str, sort_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_sort_path(sort_path, monkeypatch)
    g = torch.Generator().manual_seed(1)
    for trial in range(25):
        h, w = (int(v) for v in torch.randint(2, 11, (2,), generator=g))
        k = int(torch.randint(1, h * w, (1,), generator=g))
        radius = trial % 4
        pool = None if trial % 3 else int(torch.randint(k, h * w + 1, (1,), generator=g))
        maps = _maps(trial, 4, h, w, kind)
        masks = topk_div_mask(maps, k, radius, pool)
        for a, m in zip(maps, masks):
            assert _picks(m) == set(ref_topk_div(a.numpy(), k, radius, pool)), (h, w, k, radius, pool)


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_picks_are_spread_and_exactly_k_when_possible(radius: int) -> None:
    maps = _maps(radius, 6, 20, 23, "float")
    k = 12  # at most ceil(20 / (r+1)) * ceil(23 / (r+1)) >= 30 picks fit, so k always fit
    masks = topk_div_mask(maps, k, radius)
    assert (masks.flatten(1).sum(1) == k).all()
    for m in masks:
        points = torch.nonzero(m)
        for p, q in itertools.combinations(points.tolist(), 2):
            assert max(abs(p[0] - q[0]), abs(p[1] - q[1])) > radius


def test_fewer_than_k_picks_still_divide_by_k() -> None:
    maps = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(2))
    masks = topk_div_mask(maps, k=10, radius=1)  # at most 4 picks fit in 4x4 with radius 1
    assert (masks.flatten(1).sum(1) <= 4).all()
    picks = masks.flatten(1).sum(1).float()
    torch.testing.assert_close(topk_div_intersection(maps, maps, 10, 1, reduction="none"), picks / 10)
    # a small pool runs out too: 9 candidates, radius 1
    pooled = topk_div_mask(maps, k=5, radius=1, pool=5)
    assert (pooled.flatten(1).sum(1) < 5).all()


def test_radius_zero_is_topk() -> None:
    maps = _maps(3, 5, 9, 9, "ties")
    assert torch.equal(topk_div_mask(maps, 17, 0), topk_mask(maps, 17))
    torch.testing.assert_close(
        topk_div_intersection(maps, maps.flip(1), 17, 0, reduction="none"),
        (topk_mask(maps, 17) & topk_mask(maps.flip(1), 17)).flatten(1).sum(1) / 17,
    )


def test_constant_map_uses_flat_index_order() -> None:
    mask = topk_div_mask(torch.zeros(1, 5, 6), k=6, radius=1)
    assert _picks(mask[0]) == {0, 2, 4, 12, 14, 16}


@pytest.mark.parametrize("flat_index", [False, True])
@pytest.mark.parametrize("kind", ["float", "sparse"])
def test_metrics_match_loop_reference(kind: str, flat_index: bool) -> None:
    clean = _maps(4, 6, 9, 8, kind)
    perturbed = clean + 0.3 * _maps(5, 6, 9, 8, "float")
    for k, radius, pool in ((5, 1, None), (10, 1, 30), (4, 2, None), (30, 0, None)):
        inter = topk_div_intersection(clean, perturbed, k, radius, pool, reduction="none")
        recall = lens_recall_div(clean, perturbed, k, radius, pool, flat_index, reduction="none")
        precision = lens_precision_div(clean, perturbed, k, radius, pool, flat_index, reduction="none")
        for i, (a, b) in enumerate(zip(clean.numpy(), perturbed.numpy())):
            both = set(ref_topk_div(a, k, radius, pool)) & set(ref_topk_div(b, k, radius, pool))
            assert inter[i].item() == pytest.approx(len(both) / k)
            assert recall[i].item() == pytest.approx(ref_lens_recall_div(a, b, k, radius, pool, flat_index))
            assert precision[i].item() == pytest.approx(ref_lens_recall_div(b, a, k, radius, pool, flat_index))


def test_invariants() -> None:
    clean = _maps(6, 10, 16, 16, "float")
    perturbed = clean.roll(1, 2)
    k, radius = 12, 1
    inter = topk_div_intersection(clean, perturbed, k, radius, reduction="none")
    recall = lens_recall_div(clean, perturbed, k, radius, reduction="none")
    precision = lens_precision_div(clean, perturbed, k, radius, reduction="none")
    assert (inter <= recall).all() and (inter <= precision).all() and (recall <= 1).all()
    torch.testing.assert_close(precision, lens_recall_div(perturbed, clean, k, radius, reduction="none"))


def test_large_maps_smoke() -> None:
    maps = torch.rand(2, 224, 224, generator=torch.Generator().manual_seed(7))
    masks = topk_div_mask(maps, 1000, radius=1)
    assert (masks.flatten(1).sum(1) == 1000).all()
    assert topk_div_mask(torch.zeros(1, 96, 96), 200, radius=3).sum() == 200  # ties only: the longest chains


def test_errors() -> None:
    a = torch.rand(2, 28, 28)
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 1000")):
        topk_div_mask(a, 1000)
    with pytest.raises(ValueError, match=whole("Expected `pool` to be None or an integer in [100, 784], but got 50")):
        topk_div_intersection(a, a, 100, pool=50)
    with pytest.raises(ValueError, match=whole("Expected `pool` to be None or an integer in [100, 784], but got 785")):
        lens_recall_div(a, a, 100, pool=785)
    with pytest.raises(TypeError, match=whole("Expected `pool` to be None or an integer in [100, 784], but got 600.0")):
        lens_precision_div(a, a, 100, pool=600.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=whole("Expected `radius` to be a non-negative integer, but got -1")):
        topk_div_mask(a, 10, radius=-1)
    with pytest.raises(ValueError, match=whole("Expected `pool` to be None or an integer in [100, H*W], but got 10")):
        TopKDivIntersection(k=100, pool=10)
    with pytest.raises(TypeError, match=whole("Expected `flat_index` to be a bool, but got None")):
        LENSRecallDiv(k=100, flat_index=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("with_valid", [False, True])
@pytest.mark.parametrize(
    ("make_metric", "function"),
    [
        (lambda: TopKDivIntersection(k=5, radius=1), lambda a, b: topk_div_intersection(a, b, 5, 1)),
        (lambda: LENSRecallDiv(k=5, radius=1, pool=20), lambda a, b: lens_recall_div(a, b, 5, 1, 20)),
        (lambda: LENSRecallDiv(k=5, radius=2, flat_index=True), lambda a, b: lens_recall_div(a, b, 5, 2, None, True)),
        (lambda: LENSPrecisionDiv(k=5, radius=1), lambda a, b: lens_precision_div(a, b, 5, 1)),
    ],
)
def test_classes_accumulate_like_functional(make_metric, function, with_valid: bool) -> None:  # noqa: ANN001
    clean = _maps(8, 10, 9, 9, "sparse")
    perturbed = clean + 0.2 * _maps(9, 10, 9, 9, "float")
    valid = torch.tensor([True, True, False, True, False, True, True, False, True, True]) if with_valid else None
    check_metric_class(make_metric(), function, (clean, perturbed), valid)


@pytest.mark.parametrize("selection", ["greedy", "released"])
def test_scores_metric_equals_the_separate_metrics(selection: str) -> None:
    clean = _maps(10, 9, 12, 11, "sparse")
    perturbed = clean.roll(1, 1) + 0.2 * _maps(11, 9, 12, 11, "float")
    valid = torch.tensor([True, False, True, True, True, False, True, True, True])
    radii, pool = [2, 0, 1], 60
    metric = TopKDivScores(k=6, radii=radii, topk_div_radius=1, pool=pool, flat_index=True, selection=selection)
    separate = {"topk_div": TopKDivIntersection(k=6, radius=1, pool=pool, selection=selection)}
    for r in radii:
        separate[f"lens_recall_div_r{r}"] = LENSRecallDiv(6, r, pool, True, selection)
        separate[f"lens_prec_div_r{r}"] = LENSPrecisionDiv(6, r, pool, True, selection)
    for lo, hi in ((0, 4), (4, 9)):
        metric.update(clean[lo:hi], perturbed[lo:hi], valid=valid[lo:hi])
        for m in separate.values():
            m.update(clean[lo:hi], perturbed[lo:hi], valid=valid[lo:hi])
    got, stats = metric.compute(), metric.compute_stats()
    assert list(got) == list(separate)  # the evaluation job's column names, in order
    for name, m in separate.items():
        assert torch.equal(got[name], m.compute()), name
        for stat in ("mean", "se", "n"):
            torch.testing.assert_close(stats[name][stat], m.compute_stats()[stat])
    functional = topk_div_scores(clean[valid], perturbed[valid], 6, radii, 1, pool, True, selection)
    for name in separate:
        torch.testing.assert_close(functional[name], got[name])


def test_scores_metric_takes_the_selections_made_once() -> None:
    clean = _maps(12, 8, 10, 10, "sparse")
    perturbed = clean + 0.3 * _maps(13, 8, 10, 10, "float")
    keep = torch.tensor([True, True, False, True, False, True, True, True])
    fresh, given = TopKDivScores(k=5, radii=[1, 2]), TopKDivScores(k=5, radii=[1, 2])
    assert fresh.selection_radii == (1, 2)
    selected = (given.select(clean), given.select(perturbed))  # once for all the maps
    assert set(selected[0]) == {1, 2} and torch.equal(selected[0][2], topk_div_mask(clean, 5, 2))
    fresh.update(clean[keep], perturbed[keep])
    given.update(
        clean[keep],
        perturbed[keep],
        clean_selection={r: m[keep] for r, m in selected[0].items()},
        perturbed_selection={r: m[keep] for r, m in selected[1].items()},
    )
    for name, value in fresh.compute().items():
        assert torch.equal(value, given.compute()[name]), name
    with pytest.raises(
        ValueError,
        match=whole("Expected `clean_selection` to map radius 2 to a bool tensor of shape (8, 10, 10), but got None"),
    ):
        given.update(clean, perturbed, clean_selection={1: selected[0][1]}, perturbed_selection=selected[1])


def test_scores_metric_in_a_collection_keeps_the_column_names() -> None:
    from torchmetrics import MetricCollection

    from robattr.metrics import TopKIntersection

    collection = MetricCollection({"topk": TopKIntersection(k=4), "div": TopKDivScores(k=4, radii=[1, 2])})
    clean = _maps(14, 3, 8, 8, "float")
    collection.update(clean, clean.flip(2))
    names = {"topk", "topk_div", "lens_recall_div_r1", "lens_prec_div_r1", "lens_recall_div_r2", "lens_prec_div_r2"}
    assert set(collection.compute()) == names


def test_scores_metric_errors() -> None:
    with pytest.raises(
        ValueError, match=whole("Expected `radii` to be a list of distinct non-negative integers, but got [1, 1]")
    ):
        TopKDivScores(k=4, radii=[1, 1])
    with pytest.raises(
        ValueError, match=whole("Expected `radii` to be a list of distinct non-negative integers, but got -1")
    ):
        TopKDivScores(k=4, radii=[-1])
    with pytest.raises(
        TypeError, match=whole("Expected `topk_div_radius` to be None or a non-negative integer, but got 1.0")
    ):
        TopKDivScores(k=4, topk_div_radius=1.0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=whole("Expected `selection` to be one of ['greedy', 'released'], but got 'paper'")
    ):
        TopKDivScores(k=4, selection="paper")  # type: ignore[arg-type]
    metric = TopKDivScores(k=1000, radii=[1])
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 1000")):
        metric.update(torch.rand(2, 28, 28), torch.rand(2, 28, 28))


# ----------------------------------------------------------------------------------------------------------------------
# selection="released": the released LENS code's topkDiv


def _tie_free(seed: int, n: int, h: int, w: int, smooth: bool) -> torch.Tensor:
    """Maps without ties: the ranks of random (or smoothed random) values, so every pixel has its own value."""
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, 1, h, w, generator=g, dtype=torch.float64)
    if smooth:  # clustered maxima: windows overlap, candidates run out, the skipped pick matters
        values = torch.nn.functional.avg_pool2d(values, 5, 1, 2, count_include_pad=False)
    ranks = values.flatten(1).argsort(1).argsort(1).float()
    return ranks.view(n, h, w)


def _released_picks(maps: torch.Tensor, k: int, r: int, pool: int | None) -> list[set[int]]:
    return [_picks(m) for m in topk_div_mask(maps, k, r, pool, selection="released")]


def test_released_selection_six_by_six_example() -> None:
    a = torch.zeros(36)
    others = [p for p in range(36) if p not in (3, 18, 21, 35)]
    a[others] = torch.randperm(32, generator=torch.Generator().manual_seed(0)).float()
    a[3], a[18], a[21], a[35] = 40.0, 39.0, 38.0, 37.0
    maps = a.view(1, 6, 6)
    assert _picks(topk_div_mask(maps, 3, 1)[0]) == {3, 18, 21}
    assert _released_picks(maps, 3, 1, None)[0] == {3, 21, 35}  # the second pick, 18, skipped
    assert ref_released_topk_div(maps[0].numpy(), 3, 1) == {3, 21, 35}


@pytest.mark.parametrize("sort_path", ["packed", "numpy", "torch"])
@pytest.mark.parametrize("smooth", [False, True])
def test_released_selection_matches_transcription_28x28(
    smooth: bool, sort_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_sort_path(sort_path, monkeypatch)
    maps = _tie_free(20 + smooth, 6, 28, 28, smooth)
    for k, r, pool in ((100, 1, 600), (100, 1, None), (30, 2, None), (100, 2, 600), (10, 0, None), (50, 3, 200)):
        for a, got in zip(maps, _released_picks(maps, k, r, pool)):
            assert got == ref_released_topk_div(a.numpy(), k, r, pool), (k, r, pool)


def test_released_selection_matches_transcription_224x224() -> None:
    maps = torch.cat([_tie_free(30, 1, 224, 224, False), _tie_free(31, 1, 224, 224, True)])
    for k, r, pool in ((200, 1, 1200), (100, 2, 2500), (60, 3, 3000), (5, 1, None)):
        for a, got in zip(maps, _released_picks(maps, k, r, pool)):
            assert got == ref_released_topk_div(a.numpy(), k, r, pool), (k, r, pool)


def test_released_selection_pixel_zero_and_small_maps() -> None:
    g = torch.Generator().manual_seed(5)
    for trial in range(60):
        h, w = (int(v) for v in torch.randint(2, 9, (2,), generator=g))
        a = torch.randperm(h * w, generator=g).float().view(1, h, w)
        if trial % 3 == 0:
            a[0, 0, 0] = h * w  # pixel 0 is the first pick: its drop takes the place of the skip
        elif trial % 3 == 1:  # pixel 0 second best
            a[0, 0, 0] = a.max() - 0.5
        k = int(torch.randint(1, h * w, (1,), generator=g))
        r = trial % 3
        pool = None if trial % 2 else int(torch.randint(k, h * w + 1, (1,), generator=g))
        assert _released_picks(a, k, r, pool)[0] == ref_released_topk_div(a[0].numpy(), k, r, pool), (h, w, k, r)


def test_released_selection_returns_fewer_picks_where_the_released_code_crashes() -> None:
    maps = _tie_free(40, 4, 28, 28, True)  # every 28x28 map at k = 100, r = 2: at most 100 picks fit, k + 1 needed
    picks = _released_picks(maps, 100, 2, None)
    for a, got in zip(maps, picks):
        assert len(got) < 100 and got == ref_released_topk_div(a.numpy(), 100, 2)
    scores = topk_div_intersection(maps, maps, 100, 2, reduction="none", selection="released")
    torch.testing.assert_close(scores, torch.tensor([len(p) / 100 for p in picks]))  # still divided by k


@pytest.mark.parametrize("kind", ["tie_free", "smooth"])
def test_released_lens_div_matches_transcription(kind: str) -> None:
    clean = _tie_free(50, 5, 28, 28, kind == "smooth")
    perturbed = _tie_free(51, 5, 28, 28, kind == "smooth").roll(1, 2)
    k, r, pool = 100, 1, 600
    recall = lens_recall_div(clean, perturbed, k, r, pool, True, reduction="none", selection="released")
    precision = lens_precision_div(clean, perturbed, k, r, pool, True, reduction="none", selection="released")
    inter = topk_div_intersection(clean, perturbed, k, r, pool, reduction="none", selection="released")
    for i, (a, b) in enumerate(zip(clean.numpy(), perturbed.numpy())):
        f_a, f_b = ref_released_topk_div(a, k, r, pool), ref_released_topk_div(b, k, r, pool)
        assert inter[i].item() == pytest.approx(len(f_a & f_b) / k)
        assert recall[i].item() == pytest.approx(len(ref_neighbourhood(f_a, 28, 28, r, True) & f_b) / k)
        assert precision[i].item() == pytest.approx(len(f_a & ref_neighbourhood(f_b, 28, 28, r, True)) / k)


def test_k_larger_than_the_map_is_blamed_on_k_not_on_pool() -> None:
    a = torch.rand(2, 28, 28)
    message = whole("Expected `k` to be an integer in [1, 783], but got 1000")
    with pytest.raises(ValueError, match=message):
        topk_div_mask(a, 1000, pool=600)
    with pytest.raises(ValueError, match=message):
        lens_recall_div(a, a, 1000, pool=784)
    with pytest.raises(ValueError, match=message):
        TopKDivScores(k=1000, pool=None).update(a, a)
    with pytest.raises(ValueError, match=message):
        LENSPrecisionDiv(k=1000, pool=2000, selection="released").update(a, a)
