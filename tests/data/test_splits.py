import pytest
import torch

from robattr.data.splits import per_class_split, stratified_counts, stratified_split


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_split_partitions_in_proportion(seed: int) -> None:
    order = torch.randperm(100, generator=torch.Generator().manual_seed(9))
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)[order]
    train, val, test = stratified_split(labels, [0.6, 0.2, 0.2], seed)
    assert sorted(torch.cat([train, val, test]).tolist()) == list(range(100))
    assert torch.bincount(labels[val]).tolist() == [10, 6, 4] == torch.bincount(labels[test]).tolist()
    assert torch.bincount(labels[train]).tolist() == [30, 18, 12]


def test_stratified_split_is_a_function_of_the_seed() -> None:
    labels = torch.arange(5).repeat(20)
    a, b, c = (stratified_split(labels, [0.5, 0.5], s) for s in (1, 1, 2))
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and not torch.equal(a[1], c[1])


def test_stratified_counts_never_negative() -> None:
    assert stratified_counts(3, [0.1, 0.45, 0.45]) == [1, 1, 1]
    assert stratified_counts(2, [0.0, 0.75, 0.25]) == [0, 2, 0]
    assert sum(stratified_counts(7, [0.34, 0.33, 0.33])) == 7


def test_per_class_split_keeps_order() -> None:
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    taken, rest = per_class_split(labels, 2, seed=0)
    assert torch.bincount(labels[taken]).tolist() == [2, 2]
    assert taken.tolist() == sorted(taken.tolist()) and rest.tolist() == sorted(rest.tolist())
    assert sorted(taken.tolist() + rest.tolist()) == list(range(8))
