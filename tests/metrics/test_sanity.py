"""Sanity check: the cascade randomises top-down on a copy; Spearman rho equals scipy; per-stage accumulation."""

from __future__ import annotations

import os
import re

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scipy.stats import spearmanr

from robattr.metrics.functional.sanity import sanity_rank_correlation
from robattr.metrics.sanity import SanityCheck


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_rank_correlation_equals_scipy_with_ties():
    a = torch.randint(0, 4, (5, 6, 6)).float()
    b = a + torch.randint(0, 3, (5, 6, 6)).float()
    rho = sanity_rank_correlation(a, b, reduction="none")
    expected = torch.tensor(
        [spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(5)], dtype=torch.float32
    )
    torch.testing.assert_close(rho, expected)


def test_class_keeps_one_mean_per_stage():
    a, b = torch.rand(6, 4, 4), torch.rand(6, 4, 4)
    metric = SanityCheck(num_stages=3)
    metric.update(a[:4], b[:4], stage=1)
    metric.update(a[4:], b[4:], stage=1)
    metric.update(a, a, stage=0, valid=torch.tensor([True, False, True, True, False, True]))
    result = metric.compute()
    torch.testing.assert_close(result[:2], torch.stack([torch.tensor(1.0), sanity_rank_correlation(a, b)]))
    assert torch.isnan(result[2])


def _ddp_worker(rank: int, world: int, port: int, data: tuple[torch.Tensor, torch.Tensor], out: mp.SimpleQueue) -> None:
    torch.set_num_threads(1)  # forked children must not enter the parent's OpenMP pool
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    a, b = data
    metric = SanityCheck(num_stages=2)
    for i in range(rank, 4, world):
        metric.update(a[2 * i : 2 * i + 2], b[2 * i : 2 * i + 2], stage=i % 2)
    result = metric.compute()
    if rank == 0:
        out.put(result.tolist())
    dist.destroy_process_group()


@pytest.mark.ddp
def test_two_processes_equal_one():
    a, b = torch.rand(8, 5, 5), torch.rand(8, 5, 5)
    out = mp.get_context("fork").SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, 29519, (a, b), out), nprocs=2, start_method="fork")
    stage0 = torch.cat([a[0:2], a[4:6]]), torch.cat([b[0:2], b[4:6]])
    stage1 = torch.cat([a[2:4], a[6:8]]), torch.cat([b[2:4], b[6:8]])
    expected = torch.stack([sanity_rank_correlation(*stage0), sanity_rank_correlation(*stage1)])
    torch.testing.assert_close(torch.tensor(out.get()), expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match=whole("Expected `num_stages` to be a positive integer, but got 0")):
        SanityCheck(num_stages=0)
    with pytest.raises(ValueError, match=whole("Expected `stage` to be an integer in [0, 1], but got 2")):
        SanityCheck(num_stages=2).update(torch.rand(1, 2, 2), torch.rand(1, 2, 2), stage=2)


def test_integer_arguments_are_type_checked() -> None:
    with pytest.raises(TypeError, match=whole("Expected `num_stages` to be a positive integer, but got 1.5")):
        SanityCheck(num_stages=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=whole("Expected `stage` to be an integer in [0, 1], but got '0'")):
        SanityCheck(num_stages=2).update(torch.ones(1, 2, 2), torch.ones(1, 2, 2), stage="0")  # type: ignore[arg-type]
