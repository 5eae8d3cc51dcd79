"""Full MNIST from torchvision's on-disk layout (``<data_dir>/MNIST/raw/*-ubyte[.gz]``)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from robattr.data.base import ImageDataModule, check_fraction, missing_files_error
from robattr.data.datasets import TensorImageDataset
from robattr.data.files import CorruptFileError, describe
from robattr.data.splits import stratified_split

MNIST_REMEDY = "delete it and download it again (download=True) or copy an intact one into place"
MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def read_idx_ubyte(path: str | Path, ndim: int) -> Tensor:
    """Read an IDX file of unsigned bytes (MNIST's format), gzip-compressed or not, as a uint8 tensor.

    The header is two zero bytes, the type code ``0x08`` (unsigned byte), the number of dimensions, then one
    big-endian uint32 per dimension; the data follow in C order. A file whose name ends in ``.gz`` is
    decompressed.

    Args:
        path: the ``*-ubyte`` or ``*-ubyte.gz`` file.
        ndim: the expected number of dimensions (3 for images, 1 for labels).

    Raises:
        ValueError: if the header is not that of an unsigned-byte IDX file with ``ndim`` dimensions.
        CorruptFileError: (a ``ValueError``) if the file or its gzip stream is truncated or corrupt, naming the file
            and what to do.

    Example:
        >>> import struct, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> with open(path, "wb") as f:
        ...     _ = f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([7, 2, 1]))
        >>> read_idx_ubyte(path, ndim=1)
        tensor([7, 2, 1], dtype=torch.uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:  # truncated or corrupt gzip stream
        raise CorruptFileError(
            path, "a complete gzip-compressed IDX file", f"decompressing it failed ({describe(error)})", MNIST_REMEDY
        ) from error
    zero, dtype_code, dims = struct.unpack(">HBB", data[:4]) if len(data) >= 4 else (-1, -1, -1)
    if zero != 0 or dtype_code != 0x08 or dims != ndim:
        raise ValueError(
            f"Expected `path` to be an unsigned-byte IDX file with {ndim} dimension(s), but got {str(path)!r} "
            f"with header {data[:4].hex()}"
        )
    if len(data) < 4 + 4 * ndim:
        problem = f"its header ends after {len(data)} bytes"
        raise CorruptFileError(path, f"an IDX file with a {4 + 4 * ndim}-byte header", problem, MNIST_REMEDY)
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    size = int(np.prod(shape))
    if body.size != size:
        problem = f"it holds {body.size} (shape {tuple(shape)} in its header)"
        raise CorruptFileError(path, f"an IDX file with {size} bytes of data", problem, MNIST_REMEDY)
    return torch.from_numpy(body.reshape(shape).copy())


class MNIST(ImageDataModule):
    """MNIST (60k train, 10k test) read from torchvision's layout, split 55k / 5k / 10k as RAR did.

    Files: ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``, each possibly gzip-compressed
    (``.gz``; the uncompressed file wins when both are there). ``download=True`` fetches them with
    ``torchvision.datasets.MNIST`` in :meth:`prepare_data` (needs network); offline and absent, ``prepare_data`` and
    ``setup`` raise :class:`FileNotFoundError` naming the four files and the directory.

    RAR read MNIST with TensorFlow's ``input_data.read_data_sets``, whose validation set is the **first** 5,000
    training images (``val_split="first"``, the default). ``val_split="stratified"`` draws a seeded stratified
    validation set instead. The test set is always the 10k test set. Items are ``(1, 28, 28)`` in ``[0, 1]``.

    Args:
        data_dir: the directory holding ``MNIST/raw``.
        val_fraction: fraction of the 60k training images used for validation, in ``[0, 1)``
            (default ``1/12``: 5,000); 0 makes ``val_set`` the test set.
        val_split: ``"first"`` (TensorFlow/RAR: the first images) or ``"stratified"`` (seeded, per class).
        download: fetch the files with torchvision when they are absent.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: fixes the stratified validation split.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: for an out-of-range fraction or an unknown ``val_split``.
        FileNotFoundError: from :meth:`prepare_data` / :meth:`setup` when the files are absent.

    Example:
        >>> dm = MNIST(data_dir="/nonexistent")
        >>> dm.input_shape, dm.num_classes
        ((1, 28, 28), 10)
    """

    num_classes = 10
    input_shape = (1, 28, 28)
    class_names = tuple(str(d) for d in range(10))

    def __init__(
        self,
        data_dir: str | Path = "data",
        val_fraction: float = 5000 / 60000,
        val_split: Literal["first", "stratified"] = "first",
        download: bool = False,
        batch_size: int = 50,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_fraction("val_fraction", val_fraction)
        if val_split not in ("first", "stratified"):
            raise ValueError(f"Expected `val_split` to be 'first' or 'stratified', but got {val_split!r}")
        self.val_fraction = val_fraction
        self.val_split = val_split
        self.download = download

    @property
    def raw_dir(self) -> Path:
        """``<data_dir>/MNIST/raw``."""
        return self.data_dir / "MNIST" / "raw"

    def _find(self, name: str) -> Path | None:
        for candidate in (self.raw_dir / name, self.raw_dir / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        missing = [f"MNIST/raw/{name}[.gz]" for name in MNIST_FILES if self._find(name) is None]
        if not missing:
            return None
        expected = ", ".join(f"MNIST/raw/{name}[.gz]" for name in MNIST_FILES)
        hint = "torchvision's MNIST layout; download=True fetches them when online"
        return missing_files_error("data_dir", self.data_dir, expected, missing, hint)

    def _download(self) -> None:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        if self._missing_files(None) is not None:
            TorchvisionMNIST(str(self.data_dir), train=True, download=True)

    def _read(self, prefix: str) -> TensorImageDataset:
        images_path, labels_path = self._find(f"{prefix}-images-idx3-ubyte"), self._find(f"{prefix}-labels-idx1-ubyte")
        images = read_idx_ubyte(images_path, ndim=3)
        labels = read_idx_ubyte(labels_path, ndim=1)
        if images.shape[0] != labels.shape[0]:
            raise CorruptFileError(
                labels_path,
                f"a label file with one label per image of {str(images_path)!r} ({images.shape[0]})",
                f"it holds {labels.shape[0]} labels",
                "the two files come from different copies: delete both and download them again (download=True)",
            )
        return TensorImageDataset(images.unsqueeze(1), labels.to(torch.int64))

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        full, test = self._read("train"), self._read("t10k")
        if self.val_split == "first":
            n_val = round(len(full) * self.val_fraction)
            val_idx, train_idx = torch.arange(n_val), torch.arange(n_val, len(full))
        else:
            fractions = [1.0 - self.val_fraction, self.val_fraction]
            train_idx, val_idx = stratified_split(full.labels, fractions, self.seed)
        val = full.subset(val_idx) if len(val_idx) else test
        return full.subset(train_idx), val, test
