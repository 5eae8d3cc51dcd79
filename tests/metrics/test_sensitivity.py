"""Sensitivity-n: exact on a linear model with input x gradient maps; accumulation, DDP and argument checks."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from robattr.metrics.functional.sensitivity import sensitivity_n, sensitivity_n_inputs, sensitivity_n_masks
from robattr.metrics.sensitivity import SensitivityN


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def batch(n: int = 5, ratios=(0.2, 0.5, 0.8)):
    """A linear model, its input x gradient maps and the logits of the zero-baseline removals."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3, bias=False))
    x, y = torch.rand(n, 1, 4, 4), torch.randint(0, 3, (n,))
    maps = (model[1].weight[y].view(n, 4, 4) * x[:, 0]).detach()
    masks = sensitivity_n_masks(maps, ratios, n_draws=8)
    inputs = sensitivity_n_inputs(x, masks, "zero")
    with torch.no_grad():
        return maps, masks, model(x), model(inputs.flatten(0, 2)).view(len(ratios), 8, n, 3), y


def test_input_x_gradient_is_exact_for_a_linear_model():
    """Removing S to 0 drops z_t by exactly sum_S w_t x: correlation 1 for every image and ratio."""
    out = sensitivity_n(*batch())
    torch.testing.assert_close(out["mean"], torch.ones(3, dtype=torch.float32), rtol=0, atol=1e-5)
    torch.testing.assert_close(out["std"], torch.zeros(3, dtype=torch.float32), rtol=0, atol=2e-3)


def test_correlation_equals_numpy():
    maps, masks, clean, _, y = batch(3, ratios=(0.5,))
    perturbed = torch.randn(1, 8, 3, 3)
    out = sensitivity_n(maps, masks, clean, perturbed, y)
    s = (maps * masks[0]).sum((-1, -2)).numpy()
    delta = (clean[torch.arange(3), y] - perturbed[0, :, torch.arange(3), y]).numpy()
    corr = [np.corrcoef(s[:, i], delta[:, i])[0, 1] for i in range(3)]
    torch.testing.assert_close(out["mean"], torch.tensor([np.mean(corr)], dtype=torch.float32))
    torch.testing.assert_close(out["std"], torch.tensor([np.std(corr)], dtype=torch.float32))


def test_masks_and_baselines():
    masks = sensitivity_n_masks(torch.zeros(20, 10, 10), [0.3], n_draws=10)
    assert abs(masks.float().mean().item() - 0.3) < 0.02
    x = torch.full((1, 3, 2, 2), 0.5)
    m = torch.tensor([[True, False], [False, False]]).view(1, 1, 1, 2, 2)
    rand = sensitivity_n_inputs(x, m, "rand")
    assert (rand[0, 0, 0, :, 0, 0] != 0.5).all() and (rand[0, 0, 0, :, 1, 1] == 0.5).all()


def test_undefined_correlations_are_skipped():
    maps, masks, clean, perturbed, y = batch(3)
    perturbed[:, :, 1] = clean[1]  # image 1: the output never changes
    metric = SensitivityN(ratios=[0.2, 0.5, 0.8])
    metric.update(maps, masks, clean, perturbed, y)
    assert metric.count.tolist() == [2, 2, 2]


def test_class_accumulates_like_the_functional():
    maps, masks, clean, _, y = batch(6)
    perturbed = torch.randn(3, 8, 6, 3)
    metric = SensitivityN(ratios=[0.2, 0.5, 0.8])
    metric.update(maps[:2], masks[:, :, :2], clean[:2], perturbed[:, :, :2], y[:2])
    metric.update(maps[2:], masks[:, :, 2:], clean[2:], perturbed[:, :, 2:], y[2:])
    expected = sensitivity_n(maps, masks, clean, perturbed, y)
    for key in ("mean", "std"):
        torch.testing.assert_close(metric.compute()[key], expected[key])


def _ddp_worker(rank: int, world: int, port: int, data: tuple[torch.Tensor, ...], out: mp.SimpleQueue) -> None:
    torch.set_num_threads(1)  # forked children must not enter the parent's OpenMP pool
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    maps, masks, clean, perturbed, y = data
    metric = SensitivityN(ratios=[0.2, 0.5, 0.8])
    for b in range(rank, 4, world):
        i = slice(2 * b, 2 * b + 2)
        metric.update(maps[i], masks[:, :, i], clean[i], perturbed[:, :, i], y[i])
    result = metric.compute()
    if rank == 0:
        out.put({k: v.tolist() for k, v in result.items()})
    dist.destroy_process_group()


@pytest.mark.ddp
def test_two_processes_equal_one():
    maps, masks, clean, _, y = batch(8)
    data = (maps, masks, clean, torch.randn(3, 8, 8, 3), y)
    out = mp.get_context("fork").SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, 29518, data, out), nprocs=2, start_method="fork")
    result = out.get()
    expected = sensitivity_n(*data)
    for key in ("mean", "std"):
        torch.testing.assert_close(torch.tensor(result[key]), expected[key])


def test_bad_arguments():
    with pytest.raises(
        ValueError, match=whole("Expected `n_draws` to be an integer >= 2 (a correlation needs two draws), but got 1")
    ):
        sensitivity_n_masks(torch.zeros(1, 2, 2), n_draws=1)
    with pytest.raises(ValueError, match=whole("Expected `baseline` to be one of ['zero', 'rand'], but got 'mean'")):
        sensitivity_n_inputs(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 1, 2, 2, dtype=torch.bool), "mean")
    with pytest.raises(
        ValueError, match=whole("Expected `ratios` to be a non-empty list of numbers in (0, 1), but got [1.5]")
    ):
        SensitivityN(ratios=[1.5])
    with pytest.raises(ValueError, match=whole("Expected `masks` of shape (9, D, N, H, W), but got (3, 8, 5, 4, 4)")):
        maps, masks, clean, perturbed, y = batch()
        SensitivityN().update(maps, masks, clean, perturbed, y)
