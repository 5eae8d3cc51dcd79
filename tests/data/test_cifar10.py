import re
from pathlib import Path

import pytest
import torch

from robattr.data import CIFAR10


def test_loads_python_pickles(cifar10_dir: tuple[Path, dict]) -> None:
    data_dir, arrays = cifar10_dir
    dm = CIFAR10(data_dir=data_dir, val_fraction=0.2, seed=0)
    dm.prepare_data()
    dm.setup("fit")
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (80, 20, 30)
    assert torch.bincount(val.labels).tolist() == [2] * 10  # stratified
    assert torch.equal(test.images.reshape(30, -1), torch.from_numpy(arrays["test_x"]))
    assert torch.equal(test.labels, torch.from_numpy(arrays["test_y"]).long())
    # rows are R, G, B planes of 32x32: the first byte is the top-left red pixel
    x, y = train[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert round(float(x[0, 0, 0]) * 255) == 25 * int(y)
    assert dm.class_names[3] == "cat"


def test_train_and_val_partition_the_training_batches(cifar10_dir: tuple[Path, dict]) -> None:
    data_dir, arrays = cifar10_dir
    dm = CIFAR10(data_dir=data_dir, val_fraction=0.2)
    rows = torch.cat([dm.dataset("train").images, dm.dataset("val").images]).reshape(100, -1)
    expected = torch.from_numpy(arrays["train_x"])
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, expected.tolist()))


def test_augmentation_only_on_train(cifar10_dir: tuple[Path, dict]) -> None:
    data_dir, _ = cifar10_dir
    dm = CIFAR10(data_dir=data_dir, augment=True, val_fraction=0.2)
    train, val = dm.dataset("train"), dm.dataset("val")
    assert train.transform is not None and val.transform is None
    torch.manual_seed(0)
    views = torch.stack([train[0][0] for _ in range(8)])
    assert views.shape == (8, 3, 32, 32) and 0.0 <= views.min() and views.max() <= 1.0
    assert not all(torch.equal(views[0], v) for v in views[1:])
    assert torch.equal(val[0][0], val[0][0])


def test_seed_fixes_split(cifar10_dir: tuple[Path, dict]) -> None:
    data_dir, _ = cifar10_dir
    a, b = CIFAR10(data_dir=data_dir, seed=5), CIFAR10(data_dir=data_dir, seed=5)
    c = CIFAR10(data_dir=data_dir, seed=6)
    assert torch.equal(a.dataset("val").images, b.dataset("val").images)
    assert not torch.equal(a.dataset("val").images, c.dataset("val").images)


def test_missing_directory_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "nothing"
    message = (
        "Expected `data_dir` to be a directory holding cifar-10-batches-py/{data_batch_1, data_batch_2, data_batch_3, "
        "data_batch_4, data_batch_5, test_batch, batches.meta} (torchvision's CIFAR-10 layout; download=True fetches "
        f"them when online), but got '{data_dir}' (missing: cifar-10-batches-py/data_batch_1, "
        "cifar-10-batches-py/data_batch_2, cifar-10-batches-py/data_batch_3, cifar-10-batches-py/data_batch_4, "
        "cifar-10-batches-py/data_batch_5 and 2 more)"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        CIFAR10(data_dir=data_dir).setup()
