import re
from pathlib import Path

import numpy as np
import pytest
import torch

from robattr.data import Flower17, rar_train_test_indices


def _rar_reference(n_per_class: int, n_train: int) -> tuple[list[int], list[int]]:
    """RAR's generate_data.py on files listed in index order: global numpy seed, permutation, first n per class."""
    state = np.random.get_state()
    try:
        np.random.seed(4557077)
        order = np.random.permutation(17 * n_per_class)
    finally:
        np.random.set_state(state)
    train, test, count = [], [], np.zeros(17)
    for i in order:
        cls = i // n_per_class
        (train if count[cls] < n_train else test).append(int(i) + 1)
        count[cls] += 1
    return train, test


def test_rar_72_8_rule_on_the_real_layout(flower17_full_dir: Path, flower17_indices) -> None:
    dm = Flower17(data_dir=flower17_full_dir, cache=False)
    dm.setup()
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(test)) == (1224, 136) and val is test
    x, y = train[0]
    assert x.shape == (3, 128, 128) == dm.input_shape  # 12x9 sources resized ignoring the aspect ratio
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and 0.0 <= x.min() and x.max() <= 1.0
    assert torch.bincount(train.labels).tolist() == [72] * 17
    assert torch.bincount(test.labels).tolist() == [8] * 17
    expected_train, expected_test = _rar_reference(80, 72)
    got_train, got_test = flower17_indices(train), flower17_indices(test)
    assert got_train == expected_train and got_test == expected_test  # same images, same (shuffled) order
    assert torch.equal(train.labels, (torch.tensor(got_train) - 1) // 80)  # class = (index - 1) // 80


def test_split_function_matches_reference() -> None:
    labels = torch.arange(17).repeat_interleave(10)
    train, test = rar_train_test_indices(labels, 8)
    expected_train, expected_test = _rar_reference(10, 8)
    assert (train + 1).tolist() == expected_train and (test + 1).tolist() == expected_test


def test_validation_carved_from_train_by_seed(flower17_small_dir: Path, flower17_indices) -> None:
    kwargs = dict(data_dir=flower17_small_dir, images_per_class=10, train_per_class=8, val_per_class=2, image_size=16)
    dm = Flower17(cache=False, seed=1, **kwargs)
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (102, 34, 34)
    assert torch.bincount(val.labels).tolist() == [2] * 17
    expected_train, expected_test = _rar_reference(10, 8)
    got_train, got_val = flower17_indices(train), flower17_indices(val)
    assert sorted(got_train + got_val) == sorted(expected_train)
    assert flower17_indices(test) == expected_test
    assert got_train == [i for i in expected_train if i not in set(got_val)]  # shuffled order kept
    again = Flower17(cache=False, seed=1, **kwargs).dataset("val")
    other = Flower17(cache=False, seed=2, **kwargs).dataset("val")
    assert flower17_indices(again) == got_val
    assert flower17_indices(other) != got_val


def test_offline_augmentation_is_balanced_and_cached(
    flower17_small_dir: Path, flower17_indices, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = dict(data_dir=flower17_small_dir, images_per_class=10, train_per_class=8, val_per_class=1, image_size=16)
    dm = Flower17(augment_per_class=12, **kwargs)
    dm.prepare_data()
    cache = sorted(p.name for p in (flower17_small_dir / "flowers17" / "cache").iterdir())
    assert len(cache) == 2 and cache[0].startswith("resized_16px_") and cache[1].startswith("train_aug_16px_")
    dm.setup()
    train = dm.dataset("train")
    assert len(train) == 17 * 12 and torch.bincount(train.labels).tolist() == [12] * 17
    originals = Flower17(cache=False, **kwargs).dataset("train")
    for cls in (0, 16):
        block = flower17_indices(train)[12 * cls : 12 * (cls + 1)]
        source = [i for i, y in zip(flower17_indices(originals), originals.labels.tolist()) if y == cls]
        assert block[:7] == source  # the originals first, in their order
        assert block[7:] == [source[i % 7] for i in range(5)]  # then copies of original i mod count
    # a second datamodule with the same settings reads the cache instead of recomputing
    monkeypatch.setattr(Flower17, "_augment", lambda *a: pytest.fail("recomputed"))
    monkeypatch.setattr(Flower17, "_resize_all", lambda *a: pytest.fail("recomputed"))
    assert torch.equal(Flower17(augment_per_class=12, **kwargs).dataset("train").images, train.images)


def test_no_cache_writes_nothing(flower17_small_dir: Path) -> None:
    Flower17(data_dir=flower17_small_dir, images_per_class=10, train_per_class=8, image_size=8, cache=False).setup()
    assert not (flower17_small_dir / "flowers17" / "cache").exists()


def test_missing_images_message(tmp_path: Path) -> None:
    message = (
        "Expected `data_dir` to be a directory holding flowers17/jpg/image_0001.jpg ... image_1360.jpg "
        "(80 per class) (the layout of 17flowers.tgz; download=True fetches it when online), "
        f"but got '{tmp_path}' (missing: flowers17/jpg/image_0001.jpg, flowers17/jpg/image_0002.jpg, "
        "flowers17/jpg/image_0003.jpg, flowers17/jpg/image_0004.jpg, flowers17/jpg/image_0005.jpg and 1355 more)"
    )
    for hook in ("prepare_data", "setup"):
        with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
            getattr(Flower17(data_dir=tmp_path), hook)()


def test_one_missing_image(flower17_small_dir: Path) -> None:
    (flower17_small_dir / "flowers17" / "jpg" / "image_0042.jpg").unlink()
    message = (
        "Expected `data_dir` to be a directory holding flowers17/jpg/image_0001.jpg ... image_0170.jpg "
        "(10 per class) (the layout of 17flowers.tgz; download=True fetches it when online), "
        f"but got '{flower17_small_dir}' (missing: flowers17/jpg/image_0042.jpg)"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        Flower17(data_dir=flower17_small_dir, images_per_class=10, train_per_class=8).setup()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_per_class": 80}, "Expected `train_per_class` to be < `images_per_class` (80), but got 80"),
        ({"val_per_class": 72}, "Expected `val_per_class` to be < `train_per_class` (72), but got 72"),
        (
            {"augment_per_class": 70, "val_per_class": 1},
            "Expected `augment_per_class` to be an integer >= 71, but got 70",
        ),
        ({"image_size": 0}, "Expected `image_size` to be an integer >= 1, but got 0"),
    ],
)
def test_bad_counts(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Flower17(data_dir=tmp_path, **kwargs)
