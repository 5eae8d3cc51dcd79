"""Generated images for fast tests: one bright cell per class on a grid, plus noise."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from robattr.data.base import ImageDataModule, check_int
from robattr.data.datasets import TensorImageDataset


class SyntheticImages(ImageDataModule):
    """A learnable toy dataset generated from ``seed``: no files, no network, milliseconds to build.

    With ``pattern="class"`` the image is cut into a ``g x g`` grid, ``g = ceil(sqrt(num_classes))``; class ``c``
    lights cell ``c`` (row-major) at intensity 0.8 on a 0.2 background in every channel, then Gaussian noise of
    standard deviation ``noise`` is added and the result clipped to ``[0, 1]``. A small CNN or MLP separates the
    classes within an epoch, and :meth:`class_masks` gives the pixels that carry the label (a ground truth for
    attribution tests). ``pattern="random"`` gives uniform noise images with random labels (nothing to learn).
    Labels are balanced within each split. Items are ``(x, y)`` with ``x`` float32 ``input_shape`` in ``[0, 1]``.

    Args:
        num_classes: number of classes (at most ``min(H, W) ** 2``).
        input_shape: ``(C, H, W)`` of each image.
        train_size: number of training images.
        val_size: number of validation images (0: ``val_set`` is the test set).
        test_size: number of test images.
        pattern: ``"class"`` (one bright cell per class) or ``"random"``.
        noise: standard deviation of the additive Gaussian noise (``"class"`` only).
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: the data are a pure function of the arguments and ``seed``.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: for a non-positive size, a bad shape, an unknown pattern, a negative noise level, or more
            classes than grid cells.

    Example:
        >>> dm = SyntheticImages(num_classes=4, input_shape=(1, 8, 8), train_size=32, val_size=8, test_size=8)
        >>> x, y = dm.dataset("train")[0]
        >>> x.shape, y.dtype, len(dm.dataset("val"))
        (torch.Size([1, 8, 8]), torch.int64, 8)
        >>> dm.class_masks()[0].int()[:4, :4]
        tensor([[1, 1, 1, 1],
                [1, 1, 1, 1],
                [1, 1, 1, 1],
                [1, 1, 1, 1]], dtype=torch.int32)
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        train_size: int = 512,
        val_size: int = 128,
        test_size: int = 128,
        pattern: Literal["class", "random"] = "class",
        noise: float = 0.1,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(None, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_int("num_classes", num_classes, 2)
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
            raise ValueError(f"Expected `input_shape` to be three positive integers (C, H, W), but got {input_shape!r}")
        check_int("train_size", train_size, 1)
        check_int("val_size", val_size, 0)
        check_int("test_size", test_size, 1)
        if pattern not in ("class", "random"):
            raise ValueError(f"Expected `pattern` to be 'class' or 'random', but got {pattern!r}")
        if not isinstance(noise, (int, float)) or isinstance(noise, bool) or noise < 0:
            raise ValueError(f"Expected `noise` to be a float >= 0, but got {noise!r}")
        grid = math.ceil(math.sqrt(num_classes))
        if pattern == "class" and grid > min(shape[1:]):
            raise ValueError(
                f"Expected `num_classes` to be at most {min(shape[1:]) ** 2} for images of {shape[1]}x{shape[2]}, "
                f"but got {num_classes}"
            )
        self.num_classes = num_classes
        self.input_shape = shape
        self.class_names = tuple(f"class_{c}" for c in range(num_classes))
        self.train_size = train_size
        self.val_size = val_size
        self.test_size = test_size
        self.pattern = pattern
        self.noise = float(noise)

    def class_masks(self) -> Tensor:
        """``(num_classes, H, W)`` bool: the grid cell that class ``c`` lights (all false for ``"random"``)."""
        _, height, width = self.input_shape
        masks = torch.zeros(self.num_classes, height, width, dtype=torch.bool)
        if self.pattern == "random":
            return masks
        grid = math.ceil(math.sqrt(self.num_classes))
        rows = torch.arange(height) * grid // height
        cols = torch.arange(width) * grid // width
        for c in range(self.num_classes):
            masks[c] = (rows[:, None] == c // grid) & (cols[None, :] == c % grid)
        return masks

    def _generate(self, size: int, generator: torch.Generator) -> TensorImageDataset:
        labels = (torch.arange(size) % self.num_classes)[torch.randperm(size, generator=generator)]
        if self.pattern == "random":
            return TensorImageDataset(torch.rand(size, *self.input_shape, generator=generator), labels)
        templates = 0.2 + 0.6 * self.class_masks().to(torch.float32)
        images = templates[labels].unsqueeze(1).expand(size, *self.input_shape)
        images = images + self.noise * torch.randn(size, *self.input_shape, generator=generator)
        return TensorImageDataset(images.clamp(0.0, 1.0), labels)

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        generator = torch.Generator().manual_seed(self.seed)
        train = self._generate(self.train_size, generator)
        test = self._generate(self.test_size, generator)
        val = self._generate(self.val_size, generator) if self.val_size else test
        return train, val, test
