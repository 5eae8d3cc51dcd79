"""CIFAR-10 from torchvision's on-disk layout (``<data_dir>/cifar-10-batches-py``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchvision.transforms import v2

from robattr.data.base import ImageDataModule, check_fraction, missing_files_error
from robattr.data.datasets import TensorImageDataset
from robattr.data.files import CorruptFileError, describe
from robattr.data.splits import stratified_split

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_REMEDY = "delete cifar-10-batches-py and download it again (download=True) or copy an intact one into place"
CIFAR10_FILES: tuple[str, ...] = (*CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")


def read_cifar_batch(path: str | Path) -> tuple[Tensor, Tensor]:
    """Read one CIFAR python batch (a pickled dict with ``data`` (N, 3072) uint8 and ``labels``).

    The files were pickled by Python 2; like torchvision they are read with ``encoding="latin1"``. Keys may be
    ``str`` or ``bytes``. Each row holds the red, green and blue 32x32 planes in that order.

    Returns:
        ``(images, labels)``: ``(N, 3, 32, 32)`` uint8 and ``(N,)`` int64.

    Raises:
        CorruptFileError: (a ``ValueError``) if the file is truncated, not a pickle, or lacks ``data`` / ``labels`` of
            matching sizes; the message names the file and what to do.

    Example:
        >>> import pickle, tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "test_batch")
        >>> with open(path, "wb") as f:
        ...     pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [3, 5]}, f, protocol=2)
        >>> images, labels = read_cifar_batch(path)
        >>> images.shape, labels
        (torch.Size([2, 3, 32, 32]), tensor([3, 5]))
    """
    expected = "a CIFAR python batch (a pickled dict with `data` (N, 3072) and `labels` (N,))"
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise CorruptFileError(path, expected, f"unpickling it failed ({describe(error)})", CIFAR10_REMEDY) from error
    if not isinstance(entry, dict):
        raise CorruptFileError(path, expected, f"it holds a {type(entry).__name__}", CIFAR10_REMEDY)
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    label_key = "labels" if "labels" in entry else "fine_labels"
    if "data" not in entry or label_key not in entry:
        raise CorruptFileError(path, expected, f"it holds the keys {sorted(map(str, entry))}", CIFAR10_REMEDY)
    data = np.asarray(entry["data"])
    labels = np.asarray(entry[label_key])
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        problem = f"`data` has shape {data.shape} and `labels` {labels.shape}"
        raise CorruptFileError(path, expected, problem, CIFAR10_REMEDY)
    images = data.astype(np.uint8).reshape(-1, 3, 32, 32)
    return torch.from_numpy(images.copy()), torch.as_tensor(labels, dtype=torch.int64)


class CIFAR10(ImageDataModule):
    """CIFAR-10 (50k train, 10k test) from torchvision's python-pickle layout.

    Files: ``<data_dir>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``. ``download=True`` fetches
    them with ``torchvision.datasets.CIFAR10`` in :meth:`prepare_data`; they are read directly (no MD5 check), so a
    copy made elsewhere works offline. A seeded stratified validation set is carved from the training batches
    (default 10%: 45k / 5k / 10k). ``augment=True`` adds the usual random crop (32, padding 4) and horizontal flip
    to the training split only. Items are ``(3, 32, 32)`` in ``[0, 1]``.

    Args:
        data_dir: the directory holding ``cifar-10-batches-py``.
        val_fraction: fraction of the training images used for validation, in ``[0, 1)``; 0 makes ``val_set`` the
            test set.
        augment: random crop with 4-pixel zero padding and horizontal flip on the training split.
        download: fetch the files with torchvision when they are absent.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: fixes the validation split.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: for an out-of-range fraction.
        FileNotFoundError: from :meth:`prepare_data` / :meth:`setup` when the files are absent.

    Example:
        >>> dm = CIFAR10(data_dir="/nonexistent", augment=True)
        >>> dm.input_shape, dm.class_names[:2]
        ((3, 32, 32), ('airplane', 'automobile'))
    """

    num_classes = 10
    input_shape = (3, 32, 32)
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def __init__(
        self,
        data_dir: str | Path = "data",
        val_fraction: float = 0.1,
        augment: bool = False,
        download: bool = False,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_fraction("val_fraction", val_fraction)
        self.val_fraction = val_fraction
        self.augment = augment
        self.download = download

    @property
    def root(self) -> Path:
        """``<data_dir>/cifar-10-batches-py``."""
        return self.data_dir / CIFAR10_FOLDER

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        missing = [f"{CIFAR10_FOLDER}/{name}" for name in CIFAR10_FILES if not (self.root / name).is_file()]
        if not missing:
            return None
        expected = f"{CIFAR10_FOLDER}/{{{', '.join(CIFAR10_FILES)}}}"
        hint = "torchvision's CIFAR-10 layout; download=True fetches them when online"
        return missing_files_error("data_dir", self.data_dir, expected, missing, hint)

    def _download(self) -> None:
        from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

        if self._missing_files(None) is not None:
            TorchvisionCIFAR10(str(self.data_dir), train=True, download=True)

    def train_transform(self) -> nn.Module | None:
        """The training augmentation (``None`` when ``augment`` is false); it works on uint8 ``(3, 32, 32)``."""
        if not self.augment:
            return None
        return v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        batches = [read_cifar_batch(self.root / name) for name in CIFAR10_TRAIN_FILES]
        full = TensorImageDataset(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
        test = TensorImageDataset(*read_cifar_batch(self.root / "test_batch"))
        train_idx, val_idx = stratified_split(full.labels, [1.0 - self.val_fraction, self.val_fraction], self.seed)
        val = full.subset(val_idx) if len(val_idx) else test
        return full.subset(train_idx, transform=self.train_transform()), val, test
