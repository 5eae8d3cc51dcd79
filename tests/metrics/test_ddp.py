"""Every metric class synced over 2 gloo processes on CPU equals one process on all the data."""

from __future__ import annotations

import pytest
import torch

from robattr.metrics import (
    CenterOfMassShift,
    KendallTau,
    LENSKendallTau,
    LENSPrecision,
    LENSPrecisionDiv,
    LENSRecall,
    LENSRecallDiv,
    LENSSpearmanRho,
    MeanScore,
    SpearmanRho,
    TopKDivIntersection,
    TopKDivScores,
    TopKIntersection,
)
from tests.helpers.testers import run_in_processes, shard_compute

MAP_METRICS = [
    (TopKIntersection, {"k": 8}),
    (LENSRecall, {"k": 8, "radius": 1}),
    (LENSPrecision, {"k": 8, "radius": 2, "flat_index": True}),
    (TopKDivIntersection, {"k": 6, "radius": 1}),
    (LENSRecallDiv, {"k": 6, "radius": 1, "pool": 30}),
    (LENSPrecisionDiv, {"k": 6, "radius": 1}),
    (KendallTau, {}),
    (SpearmanRho, {}),
    (LENSKendallTau, {"radius": 1}),
    (LENSSpearmanRho, {"radius": 1}),
    (CenterOfMassShift, {}),
]
STATS_ONLY_METRICS: list = [  # multi-output metrics, checked through compute_stats only
    (TopKDivScores, {"k": 6, "radii": [1, 2], "pool": 40}),
    (TopKDivScores, {"k": 5, "radii": [1], "selection": "released", "flat_index": True}),
]


@pytest.mark.ddp
def test_two_gloo_processes_match_one_process() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(7, 10, 11, generator=g) * (torch.rand(7, 10, 11, generator=g) > 0.4)
    perturbed = clean.roll(1, 2) + 0.2 * torch.rand(7, 10, 11, generator=g)
    valid = torch.tensor([True, True, False, True, True, True, False])  # e.g. padded duplicates, failed attacks
    sizes = [4, 3]  # uneven shards
    values = (torch.rand(7, generator=g) > 0.5).float()

    groups = [(MAP_METRICS, (clean, perturbed)), ([(MeanScore, {})], (values,))]
    expected = []
    for specs, inputs in groups:
        for cls, kwargs in specs:
            metric = cls(**kwargs)
            metric.update(*inputs, valid=valid)
            expected.append(metric.compute())
    # the shards alone give other values, so agreement below needs the sync
    shard_values = [
        cls(**kwargs)(*(x[:4][valid[:4]] for x in inputs)) for specs, inputs in groups for cls, kwargs in specs
    ]
    assert any(not torch.allclose(a, b) for a, b in zip(shard_values, expected))

    ranks = run_in_processes(shard_compute, groups, valid, sizes, world_size=2)
    for results in ranks:  # every rank gets the synced value
        assert len(results) == len(expected)
        for got, want in zip(results, expected):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def stats_compute(
    rank: int, world_size: int, specs: list, inputs: tuple, valid: torch.Tensor, sizes: list[int]
) -> list[dict]:
    """DDP worker: each metric updated on this rank's shard (two batches), then its synced ``compute_stats()``."""
    start = sum(sizes[:rank])
    stop = start + sizes[rank]
    middle = (start + stop) // 2
    results = []
    for cls, kwargs in specs:
        metric = cls(**kwargs)
        for lo, hi in ((start, middle), (middle, stop)):
            metric.update(*(x[lo:hi] for x in inputs), valid=valid[lo:hi])
        results.append(metric.compute_stats())
    return results


def _flat_stats(stats: dict) -> dict[str, torch.Tensor]:
    """``{"mean": ..}`` or ``{name: {"mean": ..}}`` flattened to ``{"[name/]mean": tensor}``."""
    out = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            out.update({f"{key}/{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


@pytest.mark.ddp
def test_two_gloo_processes_match_one_process_for_mean_se_and_n() -> None:
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(9, 10, 11, generator=g) * (torch.rand(9, 10, 11, generator=g) > 0.4)
    perturbed = clean.roll(1, 2) + 0.2 * torch.rand(9, 10, 11, generator=g)
    valid = torch.tensor([True, True, False, True, True, True, False, True, True])
    sizes = [5, 4]
    specs = [*MAP_METRICS, *STATS_ONLY_METRICS]
    expected = []
    for cls, kwargs in specs:
        metric = cls(**kwargs)
        metric.update(clean, perturbed, valid=valid)
        expected.append(_flat_stats(metric.compute_stats()))
        for name, value in expected[-1].items():  # se and n are real numbers here, not NaN
            if name.split("/")[-1] == "n":
                assert int(value) == int(valid.sum()), (cls.__name__, name)
            else:
                assert torch.isfinite(value).all(), (cls.__name__, name)
    scores = (torch.rand(9, generator=g) > 0.5).float()
    one = MeanScore()
    one.update(scores, valid=valid)
    expected.append(_flat_stats(one.compute_stats()))

    map_ranks = run_in_processes(stats_compute, specs, (clean, perturbed), valid, sizes, world_size=2)
    mean_ranks = run_in_processes(stats_compute, [(MeanScore, {})], (scores,), valid, sizes, world_size=2)
    for maps_result, mean_result in zip(map_ranks, mean_ranks):
        results = [_flat_stats(s) for s in maps_result + mean_result]
        assert len(results) == len(expected)
        for got, want in zip(results, expected):
            assert got.keys() == want.keys()
            for name in want:
                torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6, equal_nan=True)
