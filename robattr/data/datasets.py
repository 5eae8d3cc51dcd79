"""In-memory image dataset: stored images, ``(x, y)`` items with ``x`` in ``[0, 1]``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset


class TensorImageDataset(Dataset):
    """Images held in memory as ``(N, C, H, W)`` uint8 (0..255) or float (already in ``[0, 1]``).

    ``dataset[i]`` is ``(x, y)`` with ``x`` float32 ``(C, H, W)`` in ``[0, 1]`` and ``y`` an int64 scalar tensor.
    Storing uint8 keeps a 60k MNIST or 50k CIFAR-10 set four times smaller than float32. The optional
    ``transform`` (for example a random crop and flip) is applied to the stored image before the scaling to
    ``[0, 1]``, so it must accept the stored dtype.

    Args:
        images: ``(N, C, H, W)`` uint8 or floating tensor.
        labels: ``(N,)`` integer tensor.
        transform: optional callable ``(C, H, W) -> (C, H, W)`` applied per item.

    Raises:
        ValueError: if the shapes do not fit together.

    Example:
        >>> import torch
        >>> ds = TensorImageDataset(torch.full((2, 1, 2, 2), 255, dtype=torch.uint8), torch.tensor([3, 4]))
        >>> x, y = ds[1]
        >>> x.dtype, x.max().item(), y
        (torch.float32, 1.0, tensor(4))
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable[[Tensor], Tensor] | None = None) -> None:
        if images.ndim != 4:
            raise ValueError(f"Expected `images` to have shape (N, C, H, W), but got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"Expected `labels` to have shape ({images.shape[0]},), but got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x = self.images[index]
        if self.transform is not None:
            x = self.transform(x)
        x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
        return x, self.labels[index]

    def subset(self, indices: Tensor, transform: Callable[[Tensor], Tensor] | None = None) -> TensorImageDataset:
        """A new dataset holding the given rows (copied), with its own ``transform``."""
        return TensorImageDataset(self.images[indices], self.labels[indices], transform)


def int64_label(label: int) -> Tensor:
    """Target transform giving file-based datasets the same int64 scalar labels as :class:`TensorImageDataset`.

    Example:
        >>> int64_label(3)
        tensor(3)
    """
    return torch.tensor(int(label), dtype=torch.int64)
