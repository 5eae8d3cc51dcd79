"""ImageNet (or any ImageFolder tree with ``train/`` and ``val/``), resized and center-cropped, in ``[0, 1]``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset
from torchvision.datasets import ImageFolder

from robattr.data.base import ImageDataModule, check_int, missing_files_error
from robattr.data.datasets import int64_label
from robattr.data.files import read_rgb
from robattr.data.transforms import random_resized_crop_transform, resize_crop_transform


def _read_image(path: str) -> object:
    """ImageFolder's loader: a truncated or corrupt JPEG is named in the error, with what to do."""
    return read_rgb(path, "replace it with an intact copy, or delete it to leave it out of the split")


class ImageNet(ImageDataModule):
    """ImageNet from an ImageFolder tree: ``<data_dir>/train/<wnid>/*.JPEG`` and ``<data_dir>/val/<wnid>/*.JPEG``.

    Class indices follow the sorted folder names (with the 1,000 ILSVRC-2012 wnids this is torchvision's class
    order). The ``val/`` folder is both the validation and the test set; ``train/`` is only needed (and only
    scanned) for ``setup("fit")``, so evaluation-only runs work with ``val/`` alone. Evaluation images are resized
    (shorter side to ``resize_size``, default 256) and center-cropped to ``crop_size`` (224), or, with
    ``resize_only=True``, resized straight to ``(crop_size, crop_size)`` as the re-calibration (RC / LPI) code did.
    ``augment=True`` trains on random resized crops with flips instead. ``max_samples_per_split`` keeps a seeded
    random subset of each split (in random order). ImageNet is never downloaded.

    Args:
        data_dir: the root holding ``train/`` and ``val/``.
        num_classes: the number of class folders expected (checked at :meth:`setup`).
        resize_size: shorter-side size before the center crop.
        crop_size: output height and width.
        resize_only: resize directly to ``(crop_size, crop_size)``, ignoring the aspect ratio.
        augment: random resized crop and horizontal flip on the training split.
        max_samples_per_split: keep at most this many images per split (seeded); ``None`` keeps all.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: fixes the subsets.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: for a size or count < 1, ``crop_size > resize_size`` without ``resize_only``, or (at
            :meth:`setup`) a number of class folders other than ``num_classes``.
        FileNotFoundError: from :meth:`prepare_data` / :meth:`setup` when ``val/`` (or, for fitting, ``train/``) is
            absent.
        CorruptFileError: (a ``ValueError``) when an image that is read is truncated or corrupt, naming it.

    Example:
        >>> dm = ImageNet(data_dir="/nonexistent", resize_only=True)
        >>> dm.input_shape, dm.num_classes
        ((3, 224, 224), 1000)
    """

    def __init__(
        self,
        data_dir: str | Path = "data/imagenet",
        num_classes: int = 1000,
        resize_size: int = 256,
        crop_size: int = 224,
        resize_only: bool = False,
        augment: bool = False,
        max_samples_per_split: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_int("num_classes", num_classes, 2)
        check_int("resize_size", resize_size, 1)
        check_int("crop_size", crop_size, 1)
        if crop_size > resize_size and not resize_only:
            raise ValueError(f"Expected `crop_size` to be <= `resize_size` ({resize_size}), but got {crop_size}")
        if max_samples_per_split is not None:
            check_int("max_samples_per_split", max_samples_per_split, 1)
        self.num_classes = num_classes
        self.input_shape = (3, crop_size, crop_size)
        self.class_names: tuple[str, ...] = ()
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.resize_only = resize_only
        self.augment = augment
        self.max_samples_per_split = max_samples_per_split

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        needed = ["train/", "val/"] if stage == "fit" else ["val/"]
        missing = [name for name in needed if not (self.data_dir / name).is_dir()]
        if not missing:
            return None
        expected = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG" if stage == "fit" else "val/<wnid>/*.JPEG"
        hint = "an ImageFolder tree; ImageNet is never downloaded"
        return missing_files_error("data_dir", self.data_dir, expected, missing, hint)

    def _needs_build(self, stage: str | None) -> bool:
        return self.test_set is None or (stage == "fit" and self.train_set is None)

    def _folder(self, split: str) -> Dataset:
        if split == "train" and self.augment:
            transform = random_resized_crop_transform(self.crop_size)
        else:
            transform = resize_crop_transform(self.resize_size, self.crop_size, self.resize_only)
        folder = ImageFolder(
            str(self.data_dir / split), transform=transform, target_transform=int64_label, loader=_read_image
        )
        if len(folder.classes) != self.num_classes:
            raise ValueError(
                f"Expected `num_classes` to equal the number of class folders in '{self.data_dir / split}' "
                f"({len(folder.classes)}), but got {self.num_classes}"
            )
        if self.class_names and tuple(folder.classes) != self.class_names:
            raise ValueError(
                f"Expected the class folders of '{self.data_dir / split}' to be those of the other split, "
                f"but got {len(folder.classes)} folders starting {folder.classes[:3]}"
            )
        self.class_names = tuple(folder.classes)
        if self.max_samples_per_split is None or self.max_samples_per_split >= len(folder):
            return folder
        generator = torch.Generator().manual_seed(self.seed + (1 if split == "train" else 0))
        keep = torch.randperm(len(folder), generator=generator)[: self.max_samples_per_split]
        return Subset(folder, keep.tolist())

    def _build(self, stage: str | None) -> tuple[Dataset | None, Dataset, Dataset]:
        test = self.test_set if self.test_set is not None else self._folder("val")
        train = self.train_set
        if train is None and (stage == "fit" or (stage is None and (self.data_dir / "train").is_dir())):
            train = self._folder("train")
        return train, test, test
