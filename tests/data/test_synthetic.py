import re

import pytest
import torch
from torch import nn

from robattr.data import SyntheticImages


def test_shapes_range_labels_and_sizes() -> None:
    dm = SyntheticImages(num_classes=5, input_shape=(3, 12, 10), train_size=50, val_size=10, test_size=20)
    assert [len(dm.dataset(s)) for s in ("train", "val", "test")] == [50, 10, 20]
    x, y = dm.dataset("train")[0]
    assert x.shape == (3, 12, 10) == dm.input_shape and x.dtype == torch.float32 and y.dtype == torch.int64
    images = dm.dataset("train").images
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert torch.bincount(dm.dataset("train").labels).tolist() == [10] * 5
    assert dm.num_classes == 5 and len(dm.class_names) == 5


def test_deterministic_under_seed() -> None:
    a, b, c = SyntheticImages(seed=3), SyntheticImages(seed=3), SyntheticImages(seed=4)
    assert torch.equal(a.dataset("train").images, b.dataset("train").images)
    assert not torch.equal(a.dataset("train").images, c.dataset("train").images)


def test_class_cells_are_distinct_and_carry_the_label() -> None:
    dm = SyntheticImages(num_classes=10, input_shape=(1, 28, 28), noise=0.0)
    masks = dm.class_masks()
    assert masks.any(dim=(1, 2)).all() and masks.sum(0).max() == 1  # one non-empty cell per class, no overlap
    ds = dm.dataset("test")
    for i in range(10):
        x, y = ds[i]
        assert torch.allclose(x[0][masks[y]], torch.tensor(0.8)) and torch.allclose(x[0][~masks[y]], torch.tensor(0.2))


def test_a_linear_model_learns_it() -> None:
    torch.manual_seed(0)
    dm = SyntheticImages(num_classes=10, input_shape=(1, 16, 16), train_size=400, test_size=200, noise=0.2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 10))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    train = dm.dataset("train")
    for _ in range(30):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(train.images), train.labels).backward()
        optimiser.step()
    test = dm.dataset("test")
    assert (model(test.images).argmax(1) == test.labels).float().mean() > 0.95


def test_random_pattern_and_zero_validation() -> None:
    dm = SyntheticImages(pattern="random", val_size=0)
    assert dm.dataset("val") is dm.dataset("test") and not dm.class_masks().any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"num_classes": 17, "input_shape": (1, 4, 4)},
            "Expected `num_classes` to be at most 16 for images of 4x4, but got 17",
        ),
        ({"input_shape": (28, 28)}, "Expected `input_shape` to be three positive integers (C, H, W), but got (28, 28)"),
        ({"pattern": "stripes"}, "Expected `pattern` to be 'class' or 'random', but got 'stripes'"),
        ({"noise": -0.1}, "Expected `noise` to be a float >= 0, but got -0.1"),
        ({"train_size": 0}, "Expected `train_size` to be an integer >= 1, but got 0"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SyntheticImages(**kwargs)
