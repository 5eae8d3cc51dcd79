"""Reading training images for methods that draw references from data (Expected Gradients, LPI)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

ReferenceData = Tensor | Iterable[Any]


def image_batches(data: ReferenceData, max_samples: int | None = None) -> Iterator[Tensor]:
    """Yield image batches ``(B, ...)`` from a tensor or from an iterable of batches, at most ``max_samples`` images.

    A batch may be a tensor, a ``(images, labels, ...)`` tuple / list, or a dict with an ``"image"`` or ``"x"`` key
    (the layouts of robattr's and torchvision's loaders). A bare tensor is one batch.

    Raises:
        TypeError: for a batch of any other type.

    Example:
        >>> [b.shape[0] for b in image_batches([(torch.zeros(3, 2), torch.zeros(3))] * 2, max_samples=4)]
        [3, 1]
    """
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"Expected `max_samples` to be a positive integer or None, but got {max_samples}")
    seen = 0
    for batch in [data] if isinstance(data, Tensor) else data:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        elif isinstance(batch, dict):
            batch = batch["image"] if "image" in batch else batch["x"]
        if not isinstance(batch, Tensor):
            raise TypeError(
                "Expected batches of images as tensors, (images, labels) tuples or dicts, but got"
                f" {type(batch).__name__}"
            )
        if max_samples is not None:
            batch = batch[: max_samples - seen]
        seen += batch.shape[0]
        yield batch
        if max_samples is not None and seen >= max_samples:
            return


def collect_images(data: ReferenceData, max_samples: int | None = None) -> Tensor:
    """Concatenate :func:`image_batches` into one ``(M, ...)`` tensor on the CPU.

    Raises:
        ValueError: if ``data`` yields no image.

    Example:
        >>> collect_images(torch.zeros(5, 1, 2, 2), max_samples=3).shape
        torch.Size([3, 1, 2, 2])
    """
    batches = [b.detach().cpu() for b in image_batches(data, max_samples)]
    if not batches or sum(b.shape[0] for b in batches) == 0:
        raise ValueError("Expected `data` to yield at least one image, but got none")
    return torch.cat(batches)
