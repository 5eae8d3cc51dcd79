"""Oxford 17-category flowers, prepared as RAR did (128 px, seed-4557077 shuffle, 72 / 8 per class)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from robattr.data.augment import rar_augment
from robattr.data.base import ImageDataModule, check_int, missing_files_error
from robattr.data.datasets import TensorImageDataset
from robattr.data.files import IMAGE_REMEDY, CorruptFileError, atomic_torch_save, load_tensors, read_rgb
from robattr.data.splits import per_class_split

FLOWER17_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz"
FLOWER17_REMEDY = IMAGE_REMEDY + " (17flowers.tgz)"
FLOWER17_CLASSES: tuple[str, ...] = (
    "Daffodil", "Snowdrop", "Lily Valley", "Bluebell", "Crocus", "Iris", "Tigerlily", "Tulip", "Fritillary",
    "Sunflower", "Daisy", "Colts Foot", "Dandelion", "Cowslip", "Buttercup", "Windflower", "Pansy",
)  # fmt: skip


def rar_train_test_indices(labels: Tensor, train_per_class: int, shuffle_seed: int = 4557077) -> tuple[Tensor, Tensor]:
    """RAR's Flower split: shuffle everything with numpy seed ``shuffle_seed``; per class, the first
    ``train_per_class`` images in that order are training images and the rest test images.

    ``numpy.random.RandomState(s).permutation`` is the same permutation as ``numpy.random.seed(s)`` followed by
    ``numpy.random.permutation`` (RAR's tflearn ``shuffle``), without touching numpy's global state. Both index
    tensors keep the shuffled order.

    Example:
        >>> import torch
        >>> labels = torch.arange(17).repeat_interleave(80)
        >>> train, test = rar_train_test_indices(labels, 72)
        >>> len(train), len(test), torch.bincount(labels[test]).unique().tolist()
        (1224, 136, [8])
    """
    order = np.random.RandomState(shuffle_seed).permutation(labels.numel())
    seen: dict[int, int] = {}
    train, test = [], []
    for index in order.tolist():
        cls = int(labels[index])
        (train if seen.get(cls, 0) < train_per_class else test).append(index)
        seen[cls] = seen.get(cls, 0) + 1
    return torch.tensor(train, dtype=torch.int64), torch.tensor(test, dtype=torch.int64)


class Flower17(ImageDataModule):
    """Oxford 17-category flowers (Nilsback & Zisserman) as prepared by RAR (Chen et al., NeurIPS 2019).

    Files: ``<data_dir>/flowers17/jpg/image_0001.jpg ... image_1360.jpg``, the layout of the official
    ``17flowers.tgz``: 80 consecutive images per class, class ``(index - 1) // 80`` in the order of
    :data:`FLOWER17_CLASSES`. ``images_per_class`` may be lowered (e.g. for tests); the default is the real 80.

    Preparation (as RAR's code): each image is resized to ``image_size`` x ``image_size`` with PIL's LANCZOS
    (= ANTIALIAS) filter, ignoring the aspect ratio; the whole set is shuffled with numpy seed ``shuffle_seed``
    (4557077); in that order the first ``train_per_class`` (72) images of each class are training images (1,224),
    the other 8 test images (136). ``val_per_class`` images per class are then moved from train to validation
    (seeded by ``seed``); with 0 (the default, as in RAR) ``val_set`` is the test set. With
    ``augment_per_class=1000`` the training set is, as in RAR, balanced offline to 1,000 images per class: the
    originals, then for ``i = 0, 1, ...`` a distorted copy of original ``i mod count``
    (:func:`~robattr.data.augment.rar_augment`, numpy seed ``augment_seed`` = 12312).

    With ``cache=True`` the resized set and the augmented training set are saved as ``.pt`` files under
    ``<data_dir>/flowers17/cache`` (by :meth:`prepare_data`, so once per node, each file written to a temporary name
    and moved into place) and reused when all settings **and the JPEGs** match: the cache key includes every image's
    name, size and modification time, so a cache is never reused after the images changed. A cache file that cannot
    be read (a torn write, a copy cut short) is an error naming it and saying to delete it.

    Differences from RAR's code: RAR listed the files in file-system order inside class folders sorted as strings
    ("0", "1", "10", ...), so neither its pre-shuffle order nor its label numbering can be reproduced; here files
    are in index order and labels follow the official class order. The augmentation composes the three
    distortions into one resampling (see :func:`~robattr.data.augment.rar_augment`).

    Args:
        data_dir: the directory holding ``flowers17/jpg``.
        image_size: side of the square resized images (RAR: 128).
        val_per_class: training images per class moved to the validation split (0: validate on the test set).
        augment_per_class: balance the training split to this many images per class by offline augmentation
            (RAR: 1000); ``None`` keeps the originals only.
        images_per_class: consecutive images per class in ``jpg/`` (80 in the real dataset).
        train_per_class: images per class going to train (before validation); the rest are test images.
        shuffle_seed: numpy seed of the train/test shuffle (RAR: 4557077).
        augment_seed: numpy seed of the augmentation (RAR: 12312).
        cache: save and reuse the prepared tensors under ``<data_dir>/flowers17/cache``.
        download: fetch and unpack ``17flowers.tgz`` when the images are absent (only with 80 images per class).
        batch_size: training batch size (RAR: 16).
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: fixes the validation split.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: for inconsistent counts (``1 <= train_per_class < images_per_class``,
            ``0 <= val_per_class < train_per_class``, ``augment_per_class >= train_per_class - val_per_class``).
        FileNotFoundError: from :meth:`prepare_data` / :meth:`setup` when images are absent.
        CorruptFileError: (a ``ValueError``) from :meth:`prepare_data` / :meth:`setup` when a JPEG or a cache file is
            truncated or corrupt; the message names the file and what to do.

    Example:
        >>> dm = Flower17(data_dir="/nonexistent", augment_per_class=1000)
        >>> dm.input_shape, dm.num_classes, dm.class_names[0]
        ((3, 128, 128), 17, 'Daffodil')
    """

    num_classes = 17
    class_names = FLOWER17_CLASSES

    def __init__(
        self,
        data_dir: str | Path = "data",
        image_size: int = 128,
        val_per_class: int = 0,
        augment_per_class: int | None = None,
        images_per_class: int = 80,
        train_per_class: int = 72,
        shuffle_seed: int = 4557077,
        augment_seed: int = 12312,
        cache: bool = True,
        download: bool = False,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_int("image_size", image_size, 1)
        check_int("images_per_class", images_per_class, 2)
        check_int("train_per_class", train_per_class, 1)
        if train_per_class >= images_per_class:
            raise ValueError(
                f"Expected `train_per_class` to be < `images_per_class` ({images_per_class}), but got {train_per_class}"
            )
        check_int("val_per_class", val_per_class, 0)
        if val_per_class >= train_per_class:
            raise ValueError(
                f"Expected `val_per_class` to be < `train_per_class` ({train_per_class}), but got {val_per_class}"
            )
        if augment_per_class is not None:
            check_int("augment_per_class", augment_per_class, train_per_class - val_per_class)
        check_int("shuffle_seed", shuffle_seed, 0)
        check_int("augment_seed", augment_seed, 0)
        self.image_size = image_size
        self.val_per_class = val_per_class
        self.augment_per_class = augment_per_class
        self.images_per_class = images_per_class
        self.train_per_class = train_per_class
        self.shuffle_seed = shuffle_seed
        self.augment_seed = augment_seed
        self.cache = cache
        self.download = download
        self.input_shape = (3, image_size, image_size)

    # --- files ----------------------------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """``<data_dir>/flowers17``."""
        return self.data_dir / "flowers17"

    @property
    def num_images(self) -> int:
        """``17 * images_per_class``."""
        return self.num_classes * self.images_per_class

    def image_path(self, index: int) -> Path:
        """Path of the 1-based image ``index``: ``<root>/jpg/image_0001.jpg`` ..."""
        return self.root / "jpg" / f"image_{index:04d}.jpg"

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        n = self.num_images
        missing = [f"flowers17/jpg/image_{i:04d}.jpg" for i in range(1, n + 1) if not self.image_path(i).is_file()]
        if not missing:
            return None
        expected = f"flowers17/jpg/image_0001.jpg ... image_{n:04d}.jpg ({self.images_per_class} per class)"
        hint = "the layout of 17flowers.tgz; download=True fetches it when online"
        return missing_files_error("data_dir", self.data_dir, expected, missing, hint)

    def _download(self) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        if self.images_per_class == 80 and self._missing_files(None) is not None:
            download_and_extract_archive(FLOWER17_URL, download_root=str(self.root))

    # --- preparation ----------------------------------------------------------------------------------------------

    def _cache_path(self, kind: str, settings: dict) -> Path:
        key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        return self.root / "cache" / f"{kind}_{self.image_size}px_{key}.pt"

    def _load_cache(self, path: Path, count: int) -> dict[str, Tensor]:
        """Read a cache file, checking that it holds what :meth:`_cached` wrote (``count`` images and labels)."""
        remedy = f"delete it ({str(path)!r}); it is rebuilt from the JPEGs on the next run"
        expected = f"a Flower-17 cache holding {count} images of {self.image_size}x{self.image_size} and their labels"
        tensors = load_tensors(path, expected, remedy)
        shape = (count, 3, self.image_size, self.image_size)
        ok = isinstance(tensors, dict) and isinstance(tensors.get("images"), Tensor)
        ok = ok and isinstance(tensors.get("labels"), Tensor) and tuple(tensors["images"].shape) == shape
        ok = ok and tuple(tensors["labels"].shape) == (count,)
        if not ok:
            found = (
                {k: tuple(v.shape) for k, v in tensors.items() if isinstance(v, Tensor)}
                if isinstance(tensors, dict)
                else type(tensors).__name__
            )
            raise CorruptFileError(path, expected, f"it holds {found}", remedy)
        return tensors

    def _cached(
        self, kind: str, settings: dict, count: int, compute: Callable[[], dict[str, Tensor]]
    ) -> dict[str, Tensor]:
        path = self._cache_path(kind, settings)
        if self.cache and path.is_file():
            return self._load_cache(path, count)
        tensors = compute()
        if self.cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(tensors, path)
        return tensors

    def _resize_all(self) -> dict[str, Tensor]:
        images = np.empty((self.num_images, self.image_size, self.image_size, 3), dtype=np.uint8)
        size = (self.image_size, self.image_size)
        for i in range(self.num_images):
            images[i] = np.asarray(read_rgb(self.image_path(i + 1), FLOWER17_REMEDY).resize(size, Image.LANCZOS))
        labels = torch.arange(self.num_images) // self.images_per_class
        return {"images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), "labels": labels}

    def _source_files(self) -> str:
        """A digest of the JPEGs' names, sizes and modification times: a cache is never reused after they changed."""
        digest = hashlib.sha1()
        for i in range(1, self.num_images + 1):
            path = self.image_path(i)
            try:
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
            except FileNotFoundError:  # reported by check_files with every other missing image
                digest.update(f"{path.name}:missing;".encode())
        return digest.hexdigest()

    def _augment(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        rng = np.random.RandomState(self.augment_seed)
        out_images, out_labels = [], []
        for cls in range(self.num_classes):
            originals = images[labels == cls]
            count = originals.shape[0]
            extra = rar_augment(originals[torch.arange(self.augment_per_class - count) % count], rng)
            out_images += [originals, extra]
            out_labels.append(torch.full((self.augment_per_class,), cls, dtype=torch.int64))
        return {"images": torch.cat(out_images), "labels": torch.cat(out_labels)}

    def _settings(self) -> tuple[dict, dict | None]:
        """What the resized set and the augmented training set depend on (their cache keys)."""
        resized = {
            "n": self.num_images, "per_class": self.images_per_class, "size": self.image_size,
            "files": self._source_files(),
        }  # fmt: skip
        if self.augment_per_class is None:
            return resized, None
        augmented = resized | {
            "train": self.train_per_class, "val": self.val_per_class, "seed": self.seed,
            "shuffle_seed": self.shuffle_seed, "augment_seed": self.augment_seed, "to": self.augment_per_class,
        }  # fmt: skip
        return resized, augmented

    def _prepare(self) -> tuple[TensorImageDataset, TensorImageDataset, TensorImageDataset]:
        resized, augmented = self._settings()
        full = TensorImageDataset(**self._cached("resized", resized, self.num_images, self._resize_all))
        train_idx, test_idx = rar_train_test_indices(full.labels, self.train_per_class, self.shuffle_seed)
        val_pos, train_pos = per_class_split(full.labels[train_idx], self.val_per_class, self.seed)
        train, val, test = full.subset(train_idx[train_pos]), full.subset(train_idx[val_pos]), full.subset(test_idx)
        if augmented is not None:
            count = self.num_classes * self.augment_per_class
            tensors = self._cached("train_aug", augmented, count, lambda: self._augment(train.images, train.labels))
            train = TensorImageDataset(**tensors)
        return train, (val if len(val) else test), test

    def prepare_data(self) -> None:
        """Download if asked, check the images, and (with ``cache``) write the cached tensors once per node."""
        super().prepare_data()
        resized, augmented = self._settings()
        paths = [self._cache_path("resized", resized)]
        if augmented is not None:
            paths.append(self._cache_path("train_aug", augmented))
        if self.cache and not all(path.is_file() for path in paths):
            self._prepare()

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        return self._prepare()
