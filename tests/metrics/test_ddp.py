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
