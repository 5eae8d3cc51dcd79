"""Exact streaming quantiles: equal to sorting everything, for any batching, with memory fixed by the unit count."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.neurons.quantile import StreamingQuantile, float_keys, keys_to_floats, order_rank, unit_quantile_reference


def _stream(x: torch.Tensor, level: float, batch: int, capacity: int = 2048) -> StreamingQuantile:
    sq = StreamingQuantile(level, capacity=capacity)
    while not sq.done:
        for b in x.split(batch):
            sq.update(b)
        sq.end_pass()
    return sq


def test_float_keys_preserve_order_and_invert():
    x = torch.tensor([-float("inf"), -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, float("inf")])
    keys = float_keys(x)
    assert (keys[1:] >= keys[:-1]).all() and keys.min() >= 0 and keys.max() < 2**32
    assert torch.equal(keys_to_floats(keys), x)


@pytest.mark.parametrize("kind", ["normal", "relu", "plateaus", "narrow"])
@pytest.mark.parametrize("capacity", [1, 2048])
@pytest.mark.parametrize("level", [0.0, 0.5, 0.995, 1.0])
def test_matches_sorting_all_values(kind, capacity, level):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(37, 3, 5, 5, generator=g)
    x = {"normal": x, "relu": x.relu(), "plateaus": x.round(), "narrow": 5 + 1e-4 * x}[kind]
    sq = _stream(x, level, batch=6, capacity=capacity)
    assert torch.equal(sq.result, unit_quantile_reference(x, level))
    assert torch.equal(
        unit_quantile_reference(x, level),
        x.transpose(0, 1).reshape(3, -1).quantile(level, dim=1, interpolation="lower"),
    )
    assert sq.passes <= 3


def test_same_result_for_any_batch_size():
    x = torch.randn(50, 4, 3, 3)
    results = [_stream(x, 0.995, b).result for b in (1, 7, 50)]
    assert all(torch.equal(r, results[0]) for r in results)


def test_collecting_pass_finishes_in_two_passes_and_small_capacity_in_three():
    x = torch.randn(200, 2, 4, 4)
    assert _stream(x, 0.995, 64).passes == 2
    assert _stream(x, 0.995, 64, capacity=1).passes == 3


def test_memory_does_not_grow_with_the_stream():
    sizes = []
    for n in (64, 512):
        sq = StreamingQuantile(0.995, capacity=16)
        x = torch.randn(n, 3, 4, 4)
        for b in x.split(32):
            sq.update(b)
        sizes.append(sq._hist.numel())
        sq.end_pass()
        for b in x.split(32):
            sq.update(b)
        collected = sum(t.shape[1] for t in sq._collected)
        assert collected <= 3 * 16  # at most `capacity` values per unit
    assert sizes[0] == sizes[1] == 3 * 4096


def test_rank_is_the_lower_order_statistic():
    assert order_rank(1000, 0.995) == 994 and order_rank(1, 0.5) == 0


def test_bad_arguments_fail_with_a_clear_message():
    with pytest.raises(ValueError, match=re.escape("Expected `level` to be a float in [0, 1], but got 1.5")):
        StreamingQuantile(1.5)
    with pytest.raises(ValueError, match=re.escape("Expected `values` without NaN, but got NaN activations")):
        StreamingQuantile(0.5).update(torch.tensor([[float("nan")]]))
