"""Truncated or corrupt dataset files are errors naming the file (and row) and what to do; nothing is left behind.

Each fault is written in the exact on-disk format of the real dataset, then cut or garbled as a copy or download cut
short would leave it. The part of a message that quotes the low-level exception (zlib's, PIL's, pickle's) is matched
loosely (``.*``); everything robattr writes is matched whole.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from robattr.data import CIFAR10, MNIST, Flower17, Flower102, ImageNet, read_cifar_batch, read_idx_ubyte
from robattr.data.broden import ROW_REMEDY, BrodenDataset
from robattr.data.broden_synthetic import SyntheticBrodenDataset, write_synthetic_broden
from robattr.data.files import IMAGE_REMEDY, CorruptFileError
from tests.data.conftest import write_mnist

MNIST_REMEDY = "delete it and download it again (download=True) or copy an intact one into place"


def whole(prefix: str, suffix: str) -> str:
    """A pattern for ``prefix + <low-level exception text> + suffix``, anchored at both ends."""
    return f"^{re.escape(prefix)}.*{re.escape(suffix)}$"


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# --- MNIST -----------------------------------------------------------------------------------------------------------


def test_truncated_mnist_gz_names_the_file(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    truncate(bad)
    prefix = f"Expected '{bad}' to be a complete gzip-compressed IDX file, but decompressing it failed (EOFError: "
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {MNIST_REMEDY}")) as info:
        MNIST(data_dir=tmp_path).setup()
    assert info.value.path == str(bad) and isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, EOFError)
    assert sorted(p.name for p in bad.parent.iterdir()) == sorted(  # nothing written next to the data
        f"{n}.gz" for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte")
    )  # fmt: skip


def test_garbled_mnist_gz_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))[:-8] + b"\xff" * 8)  # bad CRC / size
    prefix = f"Expected '{bad}' to be a complete gzip-compressed IDX file, but decompressing it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {MNIST_REMEDY}")):
        read_idx_ubyte(bad, ndim=1)


def test_truncated_uncompressed_idx_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "labels-idx1-ubyte"
    bad.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 7, 2]))
    message = f"Expected '{bad}' to be an IDX file with 5 bytes of data, but it holds 2 (shape (5,) in its header); "
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message + MNIST_REMEDY)}$"):
        read_idx_ubyte(bad, ndim=1)
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    message = f"Expected '{short}' to be an IDX file with a 16-byte header, but its header ends after 6 bytes; "
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message + MNIST_REMEDY)}$"):
        read_idx_ubyte(short, ndim=3)


def test_mnist_labels_of_another_copy(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 7]) + bytes(7))
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    message = (
        f"Expected '{labels}' to be a label file with one label per image of '{images}' (60), but it holds 7 labels; "
        "the two files come from different copies: delete both and download them again (download=True)"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        MNIST(data_dir=tmp_path).setup()


# --- CIFAR-10 --------------------------------------------------------------------------------------------------------

CIFAR_EXPECTED = "a CIFAR python batch (a pickled dict with `data` (N, 3072) and `labels` (N,))"
CIFAR_REMEDY = "delete cifar-10-batches-py and download it again (download=True) or copy an intact one into place"


def test_truncated_cifar_batch_names_the_file(cifar10_dir: tuple[Path, dict]) -> None:
    data_dir, _ = cifar10_dir
    bad = data_dir / "cifar-10-batches-py" / "data_batch_3"
    truncate(bad, 0.4)
    prefix = f"Expected '{bad}' to be {CIFAR_EXPECTED}, but unpickling it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {CIFAR_REMEDY}")):
        CIFAR10(data_dir=data_dir).setup()


def test_cifar_batch_without_labels_names_the_file(tmp_path: Path) -> None:
    import pickle

    bad = tmp_path / "test_batch"
    with open(bad, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "filenames": ["a", "b"]}, f, protocol=2)
    message = f"Expected '{bad}' to be {CIFAR_EXPECTED}, but it holds the keys ['data', 'filenames']; {CIFAR_REMEDY}"
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        read_cifar_batch(bad)
    with open(bad, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3000), np.uint8), "labels": [1, 2]}, f, protocol=2)
    problem = "`data` has shape (2, 3000) and `labels` (2,)"
    message = f"Expected '{bad}' to be {CIFAR_EXPECTED}, but {problem}; {CIFAR_REMEDY}"
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        read_cifar_batch(bad)


# --- Flower-17 -------------------------------------------------------------------------------------------------------

SMALL = dict(images_per_class=10, train_per_class=8, image_size=8)


def test_truncated_flower17_jpeg_names_the_file_and_writes_no_cache(flower17_small_dir: Path) -> None:
    bad = flower17_small_dir / "flowers17" / "jpg" / "image_0042.jpg"
    truncate(bad)
    prefix = f"Expected '{bad}' to be a readable image, but reading it failed (OSError: "
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {IMAGE_REMEDY} (17flowers.tgz)")):
        Flower17(data_dir=flower17_small_dir, **SMALL).prepare_data()
    assert not (flower17_small_dir / "flowers17" / "cache").exists()


def test_corrupt_flower17_cache_names_the_cache_and_says_to_delete_it(flower17_small_dir: Path) -> None:
    Flower17(data_dir=flower17_small_dir, **SMALL).prepare_data()
    (cache,) = (flower17_small_dir / "flowers17" / "cache").iterdir()
    truncate(cache, 0.3)  # a copy cut short: torch.load used to fail with "OSError: [Errno 22]" or a zip error
    prefix = (
        f"Expected '{cache}' to be a Flower-17 cache holding 170 images of 8x8 and their labels, "
        "but loading it failed ("
    )
    suffix = f"); delete it ('{cache}'); it is rebuilt from the JPEGs on the next run"
    with pytest.raises(CorruptFileError, match=whole(prefix, suffix)):
        Flower17(data_dir=flower17_small_dir, **SMALL).setup()
    torch.save({"images": torch.zeros(3, 3, 8, 8, dtype=torch.uint8), "labels": torch.zeros(3)}, cache)
    message = (
        f"Expected '{cache}' to be a Flower-17 cache holding 170 images of 8x8 and their labels, but it holds "
        f"{{'images': (3, 3, 8, 8), 'labels': (3,)}}; delete it ('{cache}'); "
        "it is rebuilt from the JPEGs on the next run"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        Flower17(data_dir=flower17_small_dir, **SMALL).setup()
    cache.unlink()  # the remedy works
    assert len(Flower17(data_dir=flower17_small_dir, **SMALL).dataset("test")) == 34


def test_flower17_cache_is_not_reused_after_the_jpegs_changed(flower17_small_dir: Path) -> None:
    from PIL import Image

    first = Flower17(data_dir=flower17_small_dir, **SMALL).dataset("test")
    cache_dir = flower17_small_dir / "flowers17" / "cache"
    (old_cache,) = cache_dir.iterdir()
    # image_0001 (class 0) becomes white: same name, new content, size and modification time
    path = flower17_small_dir / "flowers17" / "jpg" / "image_0001.jpg"
    Image.new("RGB", (12, 9), (255, 255, 255)).save(path, quality=95)
    stamp = time.time() + 10
    os.utime(path, (stamp, stamp))
    dm = Flower17(data_dir=flower17_small_dir, **SMALL)
    dm.setup()
    assert sorted(p.name for p in cache_dir.iterdir()) != [old_cache.name]  # a new key, so a new cache file
    full = torch.cat([dm.dataset("train").images, dm.dataset("test").images])
    assert (full.flatten(1) == 255).all(1).sum() == 1  # the white image is read, not the stale cached one
    assert not (torch.cat([first.images]).flatten(1) == 255).all(1).any()


def test_flower17_cache_key_covers_size_and_time_of_every_image(flower17_small_dir: Path) -> None:
    dm = Flower17(data_dir=flower17_small_dir, **SMALL)
    key = dm._settings()[0]["files"]
    path = flower17_small_dir / "flowers17" / "jpg" / "image_0170.jpg"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert dm._settings()[0]["files"] != key  # touched
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert dm._settings()[0]["files"] == key  # same files, same key


# --- Flowers102 and ImageNet -----------------------------------------------------------------------------------------


def test_truncated_flower102_jpeg_names_the_file(flowers102_dir: tuple[Path, dict]) -> None:
    data_dir, info = flowers102_dir
    bad = data_dir / "flowers-102" / "jpg" / f"image_{int(info['tstid'][0]):05d}.jpg"
    truncate(bad)
    prefix = f"Expected '{bad}' to be a readable image, but reading it failed (OSError: "
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {IMAGE_REMEDY}")):
        Flower102(data_dir=data_dir).dataset("test")[0]


def test_corrupt_flower102_mat_file_names_the_file(flowers102_dir: tuple[Path, dict]) -> None:
    data_dir, _ = flowers102_dir
    bad = data_dir / "flowers-102" / "setid.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 10)
    prefix = f"Expected '{bad}' to be a MATLAB file holding trnid, valid, tstid, but reading it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {IMAGE_REMEDY}")):
        Flower102(data_dir=data_dir).setup()


def test_truncated_imagenet_jpeg_names_the_file(imagenet_dir: Path) -> None:
    bad = imagenet_dir / "val" / "n01443537" / "ILSVRC2012_val_00000002.JPEG"
    truncate(bad, 0.3)
    dm = ImageNet(data_dir=imagenet_dir, num_classes=3, resize_size=40, crop_size=32)
    prefix = f"Expected '{bad}' to be a readable image, but reading it failed (OSError: "
    suffix = "); replace it with an intact copy, or delete it to leave it out of the split"
    with pytest.raises(CorruptFileError, match=whole(prefix, suffix)):
        dm.dataset("test")[2]


# --- Broden ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broden_root(tmp_path_factory) -> str:
    return write_synthetic_broden(str(tmp_path_factory.mktemp("broden") / "set"), n_images=12, seed=5)


@pytest.fixture
def broden_copy(broden_root: str, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(broden_root, copy)
    return copy


def _rewrite_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_short_index_row_names_the_file_and_line(broden_copy: Path) -> None:
    index = broden_copy / "index.csv"
    row = index.read_text().splitlines()[4]  # line 5
    cut = ",".join(row.split(",")[:5])  # a row cut after `sh`: used to be dropped silently
    _rewrite_line(index, 5, cut)
    message = (
        f"Expected '{index}' to be a CSV file whose rows have the 13 fields of its header, but line 5 has 5 "
        f"({cut!r}); {ROW_REMEDY}"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        BrodenDataset(str(broden_copy))


def test_long_index_row_names_the_file_and_line(broden_copy: Path) -> None:
    index = broden_copy / "index.csv"
    row = index.read_text().splitlines()[2]
    _rewrite_line(index, 3, row + ",extra")
    message = (
        f"Expected '{index}' to be a CSV file whose rows have the 13 fields of its header, but line 3 has 14 "
        f"({row + ',extra'!r}); {ROW_REMEDY}"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        BrodenDataset(str(broden_copy))


def test_malformed_index_size_names_the_file_line_and_column(broden_copy: Path) -> None:
    index = broden_copy / "index.csv"
    with open(index, newline="") as f:
        rows = list(csv.reader(f))
    rows[7][rows[0].index("sw")] = "3 2"
    with open(index, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    message = (
        f"Expected '{index}' to be a CSV file with an integer >= 1 in column `sw` of every row, but line 8 has '3 2'; "
        f"{ROW_REMEDY}"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        BrodenDataset(str(broden_copy))


def test_malformed_label_csv_row_names_the_file_and_line(broden_copy: Path) -> None:
    labels = broden_copy / "label.csv"
    lines = labels.read_text().splitlines()
    fields = next(csv.reader([lines[3]]))
    fields[0] = "three"
    _rewrite_line(labels, 4, ",".join(f'"{v}"' if ";" in v or "," in v else v for v in fields))
    message = (
        f"Expected '{labels}' to be a CSV file with an integer >= 0 in column `number` of every row, but line 4 has "
        f"'three'; {ROW_REMEDY}"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        BrodenDataset(str(broden_copy))


def test_index_without_labelled_rows(broden_copy: Path) -> None:
    index = broden_copy / "index.csv"
    header = index.read_text().splitlines()[0]
    index.write_text(header + "\n")
    message = (
        f"Expected '{index}' to be a Broden index with at least one image labelled in the categories "
        "['color', 'object', 'part', 'scene', 'texture'], but it has none (0 rows in all)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        BrodenDataset(str(broden_copy))


def test_truncated_broden_image_and_mask_name_the_file(broden_copy: Path) -> None:
    ds = BrodenDataset(str(broden_copy))
    image = broden_copy / "images" / ds.rows[3].image
    truncate(image)
    prefix = f"Expected '{image}' to be a readable image, but reading it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {IMAGE_REMEDY}")):
        ds[3]
    mask = broden_copy / "images" / ds.rows[4].entries["color"][0]
    mask.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    prefix = f"Expected '{mask}' to be a readable image, but reading it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {IMAGE_REMEDY}")):
        ds.load_planes(4)


def test_corrupt_lossless_override_names_the_file(broden_copy: Path, tmp_path: Path) -> None:
    ds = BrodenDataset(str(broden_copy))
    over = tmp_path / "poisoned"
    target = over / "images" / (ds.rows[1].image + ".pt")
    target.parent.mkdir(parents=True)
    torch.save(torch.rand(3, 64, 64), target)
    truncate(target, 0.5)
    remedy = "delete the corrupted set's directory and run the corruption again"
    prefix = f"Expected '{target}' to be a float image tensor saved by robattr, but loading it failed ("
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); {remedy}")):
        ds.redirect(str(over))[1]
    torch.save(torch.zeros(64, 64, dtype=torch.uint8), target)
    message = (
        f"Expected '{target}' to be a float image tensor (3, H, W) saved by robattr, but it holds (64, 64); {remedy}"
    )
    with pytest.raises(CorruptFileError, match=f"^{re.escape(message)}$"):
        ds.redirect(str(over))[1]


def test_corrupt_or_incomplete_synthetic_set(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    SyntheticBrodenDataset(str(root), n_images=6, seed=0)
    meta = root / "synthetic.json"
    meta.write_text('{"n_images": 6, "se')
    prefix = f"Expected '{meta}' to be a JSON file, but parsing it failed (JSONDecodeError: "
    with pytest.raises(CorruptFileError, match=whole(prefix, f"); delete '{root}' to have it generated again")):
        SyntheticBrodenDataset(str(root), n_images=6, seed=0)
    meta.unlink()  # a generation killed before its last file
    message = (
        "Expected `root` to hold a complete generated set (synthetic.json is written last), but got "
        f"'{root}' without synthetic.json; delete '{root}' to have it generated again"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SyntheticBrodenDataset(str(root), n_images=6, seed=0)
