import re
from pathlib import Path

import numpy as np
import pytest
import torch

from robattr.data import MNIST
from robattr.data.mnist import read_idx_ubyte


def test_loads_torchvision_layout(mnist_dir: tuple[Path, dict]) -> None:
    data_dir, arrays = mnist_dir
    dm = MNIST(data_dir=data_dir, val_fraction=0.25)
    dm.prepare_data()
    dm.setup("fit")
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (180, 60, 60)
    # TensorFlow's read_data_sets (RAR): validation = the first images of the training file.
    assert torch.equal(val.images[:, 0], torch.from_numpy(arrays["train_x"][:60]))
    assert torch.equal(train.labels, torch.from_numpy(arrays["train_y"][60:]).long())
    assert torch.equal(test.images[:, 0], torch.from_numpy(arrays["test_x"]))
    x, y = test[5]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert round(float(x[0, 0, 0]) * 255) == 25 * int(y)


def test_default_fraction_is_rar_5k_of_60k(tmp_path: Path) -> None:
    assert round(60000 * MNIST(data_dir=tmp_path).val_fraction) == 5000


def test_stratified_validation_is_seeded(mnist_dir: tuple[Path, dict]) -> None:
    data_dir, _ = mnist_dir
    a = MNIST(data_dir=data_dir, val_fraction=0.25, val_split="stratified", seed=1)
    b = MNIST(data_dir=data_dir, val_fraction=0.25, val_split="stratified", seed=1)
    c = MNIST(data_dir=data_dir, val_fraction=0.25, val_split="stratified", seed=2)
    assert torch.equal(a.dataset("val").images, b.dataset("val").images)
    assert not torch.equal(a.dataset("val").images, c.dataset("val").images)
    assert torch.bincount(a.dataset("val").labels).tolist() == [6] * 10


def test_uncompressed_file_wins_over_gz(mnist_dir: tuple[Path, dict]) -> None:
    data_dir, arrays = mnist_dir
    plain = data_dir / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    plain.write_bytes(bytes([0, 0, 8, 1]) + len(arrays["train_y"]).to_bytes(4, "big") + bytes(len(arrays["train_y"])))
    assert read_idx_ubyte(plain, ndim=1).tolist() == [0] * len(arrays["train_y"])
    assert MNIST(data_dir=data_dir).dataset("train").labels.unique().tolist() == [0]


def test_bad_idx_header(tmp_path: Path) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1]))
    message = (
        f"Expected `path` to be an unsigned-byte IDX file with 1 dimension(s), but got '{path}' with header 00000803"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_idx_ubyte(path, ndim=1)


EXPECTED = (
    "MNIST/raw/train-images-idx3-ubyte[.gz], MNIST/raw/train-labels-idx1-ubyte[.gz], "
    "MNIST/raw/t10k-images-idx3-ubyte[.gz], MNIST/raw/t10k-labels-idx1-ubyte[.gz] "
    "(torchvision's MNIST layout; download=True fetches them when online)"
)


@pytest.mark.parametrize("hook", ["prepare_data", "setup"])
def test_missing_directory_message(tmp_path: Path, hook: str) -> None:
    data_dir = tmp_path / "absent"
    dm = MNIST(data_dir=data_dir)
    message = (
        f"Expected `data_dir` to be a directory holding {EXPECTED}, but got '{data_dir}' (missing: "
        "MNIST/raw/train-images-idx3-ubyte[.gz], MNIST/raw/train-labels-idx1-ubyte[.gz], "
        "MNIST/raw/t10k-images-idx3-ubyte[.gz], MNIST/raw/t10k-labels-idx1-ubyte[.gz])"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        getattr(dm, hook)()


def test_missing_one_file_and_relative_path(mnist_dir: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, _ = mnist_dir
    for path in (data_dir / "MNIST" / "raw").glob("t10k-labels*"):
        path.unlink()
    monkeypatch.chdir(data_dir)
    message = (
        f"Expected `data_dir` to be a directory holding {EXPECTED}, but got '.' (absolute: '{data_dir.resolve()}') "
        "(missing: MNIST/raw/t10k-labels-idx1-ubyte[.gz])"
    )
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}$"):
        MNIST(data_dir=".").setup()


def test_bad_val_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^Expected `val_split` to be 'first' or 'stratified', but got 'last'$"):
        MNIST(data_dir=tmp_path, val_split="last")


def test_arrays_roundtrip_exactly(mnist_dir: tuple[Path, dict]) -> None:
    data_dir, arrays = mnist_dir
    dm = MNIST(data_dir=data_dir, val_fraction=0.0)
    assert dm.dataset("val") is dm.dataset("test")
    assert np.array_equal(dm.dataset("train").images[:, 0].numpy(), arrays["train_x"])


def test_failed_download_reports_the_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(FileNotFoundError, match=r"^Expected `data_dir` to be a directory holding MNIST/raw/") as info:
        MNIST(data_dir=tmp_path, download=True).prepare_data()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_download_skipped_when_files_are_there(mnist_dir: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", lambda *a, **k: pytest.fail("tried to download"))
    MNIST(data_dir=mnist_dir[0], download=True).prepare_data()
