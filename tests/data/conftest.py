"""Fixtures writing tiny datasets in the exact on-disk formats of the real ones (no downloads).

- MNIST: IDX unsigned-byte files under ``MNIST/raw`` (gzip-compressed or not), as torchvision leaves them.
- CIFAR-10: protocol-2 pickles ``data_batch_1..5``, ``test_batch``, ``batches.meta`` with the real keys.
- Flower-17: ``flowers17/jpg/image_0001.jpg ...``, 17 classes of consecutive images; each image is one solid colour
  encoding its 1-based index (:func:`decode_flower17_index` reads it back after resizing).
- Flowers102: ``flowers-102/jpg/image_00001.jpg ...``, ``imagelabels.mat`` and ``setid.mat`` (scipy.io.savemat).
- ImageNet: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

MNIST_TRAIN, MNIST_TEST = 240, 60
CIFAR_PER_BATCH, CIFAR_TEST = 20, 30


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random digits whose first pixel equals ``25 * label`` (so image-label pairing can be checked)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.uint8) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels * 25
    return images, labels


def write_mnist(data_dir: Path, gz: bool) -> dict[str, np.ndarray]:
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_x, train_y = mnist_arrays(MNIST_TRAIN, seed=1)
    test_x, test_y = mnist_arrays(MNIST_TEST, seed=2)
    arrays = {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": train_y,
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": test_y,
    }
    for name, array in arrays.items():
        if gz:
            with gzip.open(raw / f"{name}.gz", "wb") as f:
                f.write(_idx_bytes(array))
        else:
            (raw / name).write_bytes(_idx_bytes(array))
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


@pytest.fixture(params=[False, True], ids=["raw", "gz"])
def mnist_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``(data_dir, arrays)`` with MNIST files written uncompressed or gzip-compressed."""
    return tmp_path, write_mnist(tmp_path, gz=request.param)


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``(data_dir, arrays)`` with a 100-image train set in 5 batches and a 30-image test batch."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(3)
    out: dict[str, list[np.ndarray]] = {"train_x": [], "train_y": []}

    def batch(n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(n) % 10)
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[:, 0] = labels * 25  # first red pixel encodes the label
        entry = {
            "batch_label": name,
            "labels": labels.tolist(),
            "data": data,
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        with open(root / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        return data, labels

    for i in range(1, 6):
        data, labels = batch(CIFAR_PER_BATCH, f"data_batch_{i}")
        out["train_x"].append(data)
        out["train_y"].append(labels)
    test_x, test_y = batch(CIFAR_TEST, "test_batch")
    meta = {"num_cases_per_batch": CIFAR_PER_BATCH, "label_names": ["airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck"], "num_vis": 3072}  # fmt: skip
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return tmp_path, {
        "train_x": np.concatenate(out["train_x"]),
        "train_y": np.concatenate(out["train_y"]),
        "test_x": test_x,
        "test_y": test_y,
    }


def flower17_colour(index: int) -> tuple[int, int, int]:
    """A solid colour encoding a 1-based image index (robust to JPEG and resizing errors of a few levels)."""
    return 6 * (index % 40) + 3, 7 * (index // 40) + 3, 128


def decode_flower17_indices(images: np.ndarray) -> list[int]:
    """Inverse of :func:`flower17_colour` for ``(N, 3, H, W)`` uint8 images."""
    red, green = images[:, :2].reshape(len(images), 2, -1).mean(axis=2).T
    return (np.round((green - 3) / 7) * 40 + np.round((red - 3) / 6)).astype(int).tolist()


def write_flower17(data_dir: Path, images_per_class: int, size: tuple[int, int] = (12, 9)) -> Path:
    jpg = data_dir / "flowers17" / "jpg"
    jpg.mkdir(parents=True)
    for index in range(1, 17 * images_per_class + 1):
        Image.new("RGB", size, flower17_colour(index)).save(jpg / f"image_{index:04d}.jpg", quality=95)
    return data_dir


@pytest.fixture(scope="session")
def flower17_full_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 1,360 images of the real layout (80 per class), tiny and non-square."""
    return write_flower17(tmp_path_factory.mktemp("flower17_full"), images_per_class=80)


@pytest.fixture
def flower17_small_dir(tmp_path: Path) -> Path:
    """10 images per class (170 in all)."""
    return write_flower17(tmp_path, images_per_class=10)


@pytest.fixture
def flowers102_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``(data_dir, info)``: 24 images, labels 1..102 in ``imagelabels.mat``, 8 ids per split in ``setid.mat``."""
    from scipy.io import savemat

    base = tmp_path / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    n = 24
    labels = np.array([1 + (7 * i) % 102 for i in range(n)], dtype=np.uint8)
    for i in range(1, n + 1):
        Image.new("RGB", (40 + i, 30), (2 * i, 100, 50)).save(base / "jpg" / f"image_{i:05d}.jpg")
    ids = np.random.default_rng(4).permutation(np.arange(1, n + 1)).astype(np.uint16)
    savemat(base / "imagelabels.mat", {"labels": labels[None, :]})
    savemat(base / "setid.mat", {"trnid": ids[None, :8], "valid": ids[None, 8:16], "tstid": ids[None, 16:]})
    return tmp_path, {"labels": labels, "trnid": ids[:8], "valid": ids[8:16], "tstid": ids[16:]}


IMAGENET_WNIDS = ("n01440764", "n01443537", "n01484850")


@pytest.fixture
def imagenet_dir(tmp_path: Path) -> Path:
    """``train/`` with 4 and ``val/`` with 2 tiny JPEGs for each of three wnids; class ``c`` is filled with 80 c."""
    root = tmp_path / "imagenet"
    for split, count in (("train", 4), ("val", 2)):
        for c, wnid in enumerate(IMAGENET_WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(count):
                name = f"{wnid}_{i}.JPEG" if split == "train" else f"ILSVRC2012_val_{c * count + i:08d}.JPEG"
                Image.new("RGB", (48, 36), (80 * c, 80 * c, 80 * c)).save(folder / name, format="JPEG")
    return root


@pytest.fixture(scope="session")
def flower17_indices():
    """Function ``TensorImageDataset -> list of 1-based Flower-17 image indices`` for the images written here."""

    def indices(dataset) -> list[int]:
        return decode_flower17_indices(dataset.images.numpy())

    return indices
