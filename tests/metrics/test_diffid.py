"""DiffID: a hand-computed case on a linear model, accumulation, DDP, ties and argument checks."""

from __future__ import annotations

import os
import re

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from robattr.metrics.diffid import DiffID
from robattr.metrics.functional.diffid import diffid, diffid_inputs, diffid_keep_masks


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """z_0 = sum(x), z_1 = 3.6 x_3 on 2x2 one-channel images; map ranks the pixels 0 > 1 > 2 > 3."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 3.6]]))
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    return model, x, maps, torch.tensor([0])


def test_hand_computed_case_on_a_linear_model():
    model, x, maps, y = toy()
    ratios = [0.25, 0.5, 0.75]
    perturbed = diffid_inputs(x, maps, ratios)
    expected_inputs = torch.tensor(
        [
            [
                [1.0, 2.0, 3.0, 2.0],
                [1.0, 2.0, 1.5, 1.5],
                [1.0, 1.0, 1.0, 1.0],
            ],  # insertion: keep the top, fill the kept mean
            [[3.0, 2.0, 3.0, 4.0], [3.5, 3.5, 3.0, 4.0], [4.0, 4.0, 4.0, 4.0]],  # deletion: remove the top
        ]
    )
    torch.testing.assert_close(perturbed.view(2, 3, 4), expected_inputs)
    with torch.no_grad():
        out = diffid(model(x), model(perturbed.flatten(0, 2)).view(2, 3, 1, 2), y, ratios)
    # z_0(x) = 10; insertion z_0 = 8, 6, 4; deletion z_0 = 12, 14, 16; z_1 = 7.2, 5.4, 3.6 / 14.4, 14.4, 14.4
    torch.testing.assert_close(out["insertion_logit"], torch.tensor([0.8, 0.6, 0.4]))
    torch.testing.assert_close(out["deletion_logit"], torch.tensor([1.2, 1.4, 1.6]))
    torch.testing.assert_close(out["diffid_logit"], torch.tensor([-0.4, -0.8, -1.2]))
    torch.testing.assert_close(out["diffid_acc"], torch.tensor([1.0, 1.0, 0.0]))
    torch.testing.assert_close(
        out["diffid_logit_auc"], torch.tensor(-0.4)
    )  # 0.25 * ((-0.4 - 0.8) / 2 + (-0.8 - 1.2) / 2)
    torch.testing.assert_close(out["diffid_logit_mean"], torch.tensor(-0.8))
    torch.testing.assert_close(out["diffid_acc_auc"], torch.tensor(0.375))
    torch.testing.assert_close(out["diffid_acc_mean"], torch.tensor(2 / 3))


def test_ties_are_broken_by_flat_index():
    keep = diffid_keep_masks(torch.zeros(1, 2, 3), [0.5])
    assert keep[1, 0, 0].flatten().tolist() == [False, False, False, True, True, True]
    assert keep[0, 0, 0].flatten().tolist() == [True, True, True, False, False, False]


def test_games_remove_the_same_number_of_pixels():
    keep = diffid_keep_masks(torch.rand(3, 5, 7), [0.1, 0.33, 0.9])
    removed = (~keep).flatten(3).sum(3)
    assert (removed[0] == removed[1]).all()
    assert removed[0, :, 0].tolist() == [3, 11, 31]


def test_class_accumulates_like_the_functional_on_the_concatenation():
    clean, perturbed, target = torch.randn(10, 5) + 3, torch.randn(2, 9, 10, 5) + 3, torch.randint(0, 5, (10,))
    metric = DiffID()
    for idx in (slice(0, 4), slice(4, 5), slice(5, 10)):
        metric.update(clean[idx], perturbed[:, :, idx], target[idx])
    result, expected = metric.compute(), diffid(clean, perturbed, target)
    assert result.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(result[key], expected[key])


def test_valid_mask_leaves_samples_out():
    clean, perturbed, target = torch.randn(6, 3) + 3, torch.randn(2, 9, 6, 3) + 3, torch.randint(0, 3, (6,))
    valid = torch.tensor([True, False, True, True, False, True])
    metric = DiffID()
    metric.update(clean, perturbed, target, valid)
    expected = diffid(clean[valid], perturbed[:, :, valid], target[valid])
    torch.testing.assert_close(metric.compute()["diffid_logit"], expected["diffid_logit"])


def _ddp_worker(rank: int, world: int, port: int, data: tuple[torch.Tensor, ...], out: mp.SimpleQueue) -> None:
    torch.set_num_threads(1)  # forked children must not enter the parent's OpenMP pool
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    clean, perturbed, target = data
    metric = DiffID()
    for b in range(rank, 4, world):  # batches range(rank, n, world) as in torchmetrics' tester
        idx = slice(3 * b, 3 * b + 3)
        metric.update(clean[idx], perturbed[:, :, idx], target[idx])
    result = metric.compute()
    if rank == 0:
        out.put({k: v.tolist() for k, v in result.items()})  # plain values: no shared memory across the exit
    dist.destroy_process_group()


@pytest.mark.ddp
def test_two_processes_equal_one():
    data = (torch.randn(12, 4) + 3, torch.randn(2, 9, 12, 4) + 3, torch.randint(0, 4, (12,)))
    out = mp.get_context("fork").SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, 29517, data, out), nprocs=2, start_method="fork")
    result = out.get()
    expected = diffid(*data)
    for key in expected:
        torch.testing.assert_close(torch.tensor(result[key]), expected[key])


def test_bad_arguments():
    with pytest.raises(
        ValueError, match=whole("Expected `ratios` to be a non-empty list of numbers in (0, 1), but got [0.0, 0.5]")
    ):
        DiffID(ratios=[0.0, 0.5])
    with pytest.raises(
        ValueError, match=whole("Expected `ratios` to be a non-empty list of numbers in (0, 1), but got [0.5, 1.0]")
    ):
        diffid_keep_masks(torch.rand(1, 2, 2), [0.5, 1.0])
    with pytest.raises(
        ValueError, match=whole("Expected `ratios` to be a non-empty list of numbers in (0, 1), but got []")
    ):
        DiffID(ratios=[])
    with pytest.raises(
        ValueError, match=whole("Expected `perturbed_logits` with 9 ratios in dim 1, but got (2, 3, 4, 5)")
    ):
        DiffID().update(torch.rand(4, 5), torch.rand(2, 3, 4, 5), torch.zeros(4, dtype=torch.long))
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected `inputs` (N, C, H, W) and `maps` (N, H, W) of the same N, H, W, but got"
            " (2, 1, 4, 4) and (2, 4, 3)"
        ),
    ):
        diffid_inputs(torch.rand(2, 1, 4, 4), torch.rand(2, 4, 3))


def test_compute_stats_equal_per_image_mean_and_standard_error():
    g = torch.Generator().manual_seed(3)
    n, r, k = 7, 3, 4
    ratios = [0.2, 0.5, 0.7]
    clean = torch.rand(n, k, generator=g) + 1.0
    perturbed = torch.rand(2, r, n, k, generator=g) * 2
    target = torch.randint(0, k, (n,), generator=g)
    metric = DiffID(ratios=ratios)
    metric.update(clean[:3], perturbed[:, :, :3], target[:3])
    metric.update(clean[3:], perturbed[:, :, 3:], target[3:])
    stats, means = metric.compute_stats(), metric.compute()
    assert set(stats) == set(means)
    per_image = [diffid(clean[i : i + 1], perturbed[:, :, i : i + 1], target[i : i + 1], ratios) for i in range(n)]
    for name in means:
        values = torch.stack([p[name] for p in per_image]).double()
        torch.testing.assert_close(stats[name]["mean"], means[name])
        torch.testing.assert_close(stats[name]["mean"].double(), values.mean(0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats[name]["se"].double(), values.std(0) / n**0.5, rtol=1e-4, atol=1e-6)
        assert int(stats[name]["n"]) == n
