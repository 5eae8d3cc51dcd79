import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

from robattr.data import ImageNet

WNIDS = ["n01440764", "n01443537", "n01484850"]


def test_loads_image_folders(imagenet_dir: Path) -> None:
    dm = ImageNet(data_dir=imagenet_dir, num_classes=3, resize_size=40, crop_size=32)
    dm.prepare_data()
    dm.setup("fit")
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val)) == (12, 6) and val is test
    assert list(dm.class_names) == WNIDS
    for i in range(len(test)):
        x, y = test[i]
        assert x.shape == (3, 32, 32) == dm.input_shape and x.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert abs(float(x.mean()) * 255 - 80 * int(y)) < 3  # class c images are filled with grey 80 c
    assert [int(test[i][1]) for i in range(6)] == [0, 0, 1, 1, 2, 2]


def test_resize_only_and_default_sizes(imagenet_dir: Path) -> None:
    assert ImageNet(data_dir=imagenet_dir, num_classes=3).dataset("test")[0][0].shape == (3, 224, 224)
    x = ImageNet(data_dir=imagenet_dir, num_classes=3, crop_size=20, resize_only=True).dataset("test")[0][0]
    assert x.shape == (3, 20, 20)


def test_evaluation_needs_only_val(imagenet_dir: Path) -> None:
    for path in sorted((imagenet_dir / "train").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (imagenet_dir / "train").rmdir()
    dm = ImageNet(data_dir=imagenet_dir, num_classes=3)
    dm.prepare_data()
    dm.setup("test")
    assert len(dm.dataset("test")) == 6 and dm.train_set is None
    message = (
        "Expected `data_dir` to be a directory holding train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (an ImageFolder "
        f"tree; ImageNet is never downloaded), but got '{imagenet_dir}' (missing: train/)"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        dm.setup("fit")
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        dm.dataset("train")


def test_missing_root_message(tmp_path: Path) -> None:
    message = (
        "Expected `data_dir` to be a directory holding val/<wnid>/*.JPEG (an ImageFolder tree; ImageNet is never "
        f"downloaded), but got '{tmp_path}' (missing: val/)"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        ImageNet(data_dir=tmp_path).prepare_data()


def test_num_classes_must_match_folders(imagenet_dir: Path) -> None:
    val = imagenet_dir / "val"
    message = f"Expected `num_classes` to equal the number of class folders in '{val}' (3), but got 1000"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ImageNet(data_dir=imagenet_dir).setup("test")


def test_max_samples_per_split_is_seeded(imagenet_dir: Path) -> None:
    def kept(seed: int, split: str) -> list[int]:
        dataset = ImageNet(data_dir=imagenet_dir, num_classes=3, max_samples_per_split=4, seed=seed).dataset(split)
        assert isinstance(dataset, Subset) and len(dataset) == 4
        return list(dataset.indices)

    assert kept(0, "train") == kept(0, "train")
    assert kept(0, "test") == kept(0, "test")
    assert {tuple(kept(s, "train")) for s in range(5)} != {tuple(kept(0, "train"))}
