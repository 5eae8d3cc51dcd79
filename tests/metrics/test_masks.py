"""Tests of robattr/metrics/functional/masks.py: the top-k tie rule and the neighbourhood dilation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robattr.metrics.functional import degenerate_maps, neighbourhood_mask, topk_mask
from tests.helpers.testers import whole
from tests.metrics._references import ref_neighbourhood, ref_topk


def _to_set(mask: torch.Tensor) -> set[int]:
    return set(torch.nonzero(mask.flatten()).flatten().tolist())


@pytest.mark.parametrize("values", ["float", "ties"])
def test_topk_mask_matches_reference_order(values: str) -> None:
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(20, 6, 7, generator=g)
    if values == "ties":  # MNIST-like: most pixels tie at zero, a few at other values
        maps = torch.randint(0, 3, (20, 6, 7), generator=g).float() * (maps > 0.6)
    for k in (1, 5, 20, 41):
        masks = topk_mask(maps, k)
        assert (masks.flatten(1).sum(1) == k).all()
        for a, m in zip(maps, masks):
            assert _to_set(m) == ref_topk(a.numpy(), k)


def test_topk_mask_ties_take_lowest_flat_index() -> None:
    mask = topk_mask(torch.zeros(1, 3, 3), k=4)
    assert _to_set(mask[0]) == {0, 1, 2, 3}
    mask = topk_mask(torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]]), k=2)
    assert _to_set(mask[0]) == {1, 3}


@pytest.mark.parametrize("flat_index", [False, True])
@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_neighbourhood_matches_loop_reference(radius: int, flat_index: bool) -> None:
    g = torch.Generator().manual_seed(radius)
    for h, w in ((5, 7), (8, 3), (1, 6), (9, 9)):
        sets = torch.rand(6, h, w, generator=g) > 0.85
        sets[0, 0, 0] = sets[1, -1, -1] = sets[2, 0, -1] = sets[3, -1, 0] = True  # corners: wrap-around cases
        out = neighbourhood_mask(sets, radius, flat_index)
        for s, o in zip(sets, out):
            assert _to_set(o) == ref_neighbourhood(_to_set(s), h, w, radius, flat_index)


def test_neighbourhood_flat_index_drops_pixel_zero_and_wraps() -> None:
    s = torch.zeros(1, 3, 4, dtype=torch.bool)
    s[0, 0, 0] = True
    assert not neighbourhood_mask(s, 0, flat_index=True).any()
    s = torch.zeros(1, 3, 4, dtype=torch.bool)
    s[0, 1, 3] = True  # last column: the right neighbours wrap to the next row's first column
    assert neighbourhood_mask(s, 1, flat_index=True)[0, 2, 0]
    assert not neighbourhood_mask(s, 1)[0, 2, 0]


def test_mask_errors() -> None:
    maps = torch.rand(2, 28, 28)
    with pytest.raises(ValueError, match=whole("Expected `k` to be an integer in [1, 783], but got 1000")):
        topk_mask(maps, 1000)
    with pytest.raises(TypeError, match=whole("Expected `k` to be an integer in [1, 783], but got 10.0")):
        topk_mask(maps, 10.0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=whole("Expected `maps` to be a 3-D tensor of shape (N, H, W), but got shape (28, 28)")
    ):
        topk_mask(maps[0], 3)
    with pytest.raises(ValueError, match=whole("Expected `radius` to be a non-negative integer, but got -1")):
        neighbourhood_mask(maps > 0.5, -1)
    with pytest.raises(TypeError, match=whole("Expected `flat_index` to be a bool, but got 1")):
        neighbourhood_mask(maps > 0.5, 1, flat_index=1)  # type: ignore[arg-type]


def test_masks_keep_device_and_shape() -> None:
    maps = torch.rand(3, 4, 5, dtype=torch.float64)
    assert topk_mask(maps, 3).shape == (3, 4, 5)
    assert neighbourhood_mask(topk_mask(maps, 3), 2).dtype == torch.bool
    assert np.array_equal(
        neighbourhood_mask(torch.ones(1, 2, 2, dtype=torch.bool), 5).numpy(), np.ones((1, 2, 2), bool)
    )


def test_one_nan_pixel_never_shrinks_the_topk_set() -> None:
    maps = torch.rand(4, 6, 7, generator=torch.Generator().manual_seed(3))
    maps[0, 2, 2] = float("nan")
    maps[1] = 0.0
    maps[1, 0, 0] = float("nan")  # NaN among ties
    maps[2, :, :3] = float("nan")  # more NaN than k allows: NaN pixels fill the set last
    for k in (1, 5, 30):
        mask = topk_mask(maps, k, validate_args=False)
        assert (mask.flatten(1).sum(1) == k).all(), k
        nan = torch.isnan(maps)
        # a NaN pixel only enters once every number is in
        for m, is_nan in zip(mask, nan):
            assert not (m & is_nan).any() or (m | is_nan).all()
    with pytest.raises(
        ValueError, match=whole("Expected `maps` to hold only finite values, but got 20 NaN or infinite of 168 entries")
    ):
        topk_mask(maps, 5)


def test_degenerate_maps() -> None:
    maps = torch.rand(6, 4, 5, generator=torch.Generator().manual_seed(4))
    maps[1] = 0.0  # all zero
    maps[2] = 3.5  # constant
    maps[3, 1, 1] = float("nan")
    maps[4, 0, 0] = float("inf")
    assert degenerate_maps(maps).tolist() == [False, True, True, True, True, False]
    assert degenerate_maps(torch.tensor([[[1, 2]], [[7, 7]]])).tolist() == [False, True]  # integer maps
    assert degenerate_maps(torch.zeros(0, 4, 5)).shape == (0,)
    with pytest.raises(
        ValueError, match=whole("Expected `maps` to be a 3-D tensor of shape (N, H, W), but got shape (4, 5)")
    ):
        degenerate_maps(maps[0])
    # the reason to leave them out: two unrelated all-zero maps tie everywhere and score a perfect 1.0
    zeros = torch.zeros(2, 4, 5)
    from robattr.metrics.functional import topk_intersection

    assert topk_intersection(zeros, zeros.clone(), 3) == 1.0
