import re
from pathlib import Path

import pytest
import torch

from robattr.data import Flower102


def test_loads_torchvision_layout(flowers102_dir: tuple[Path, dict]) -> None:
    data_dir, info = flowers102_dir
    dm = Flower102(data_dir=data_dir)
    dm.prepare_data()
    dm.setup("fit")
    for split, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
        ds = dm.dataset(split)
        assert len(ds) == 8
        labels = [int(ds[i][1]) for i in range(len(ds))]
        assert labels == [int(info["labels"][image_id - 1]) - 1 for image_id in info[key]]  # 1-based in the .mat
    x, y = dm.dataset("train")[0]
    assert x.shape == (3, 224, 224) == dm.input_shape and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert dm.num_classes == 102 and dm.class_names[0] == "pink primrose"


@pytest.mark.parametrize(
    ("kwargs", "shape"), [({"resize_size": 146, "crop_size": 128}, 128), ({"crop_size": 64, "resize_only": True}, 64)]
)
def test_sizes(flowers102_dir: tuple[Path, dict], kwargs: dict, shape: int) -> None:
    data_dir, _ = flowers102_dir
    dm = Flower102(data_dir=data_dir, **kwargs)
    assert dm.dataset("test")[0][0].shape == (3, shape, shape) == dm.input_shape


def test_missing_files_message(tmp_path: Path) -> None:
    message = (
        "Expected `data_dir` to be a directory holding flowers-102/jpg/, flowers-102/imagelabels.mat, "
        "flowers-102/setid.mat (torchvision's Flowers102 layout; download=True fetches them when online), "
        f"but got '{tmp_path}' (missing: flowers-102/jpg/, flowers-102/imagelabels.mat, flowers-102/setid.mat)"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        Flower102(data_dir=tmp_path).setup()


def test_crop_larger_than_resize(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^Expected `crop_size` to be <= `resize_size` \(128\), but got 224$"):
        Flower102(data_dir=tmp_path, resize_size=128)
