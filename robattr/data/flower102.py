"""Oxford 102 Flowers from torchvision's on-disk layout (``<data_dir>/flowers-102``)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset
from torchvision.datasets import Flowers102 as TorchvisionFlowers102

from robattr.data.base import ImageDataModule, check_int, missing_files_error
from robattr.data.datasets import int64_label
from robattr.data.files import IMAGE_REMEDY, CorruptFileError, describe, read_rgb
from robattr.data.transforms import resize_crop_transform

FLOWERS102_FOLDER = "flowers-102"
FLOWERS102_FILES: tuple[str, ...] = ("jpg/", "imagelabels.mat", "setid.mat")


class _Flowers102Files(TorchvisionFlowers102):
    """torchvision's reader without its MD5 check, so that copies, subsets and test fixtures load too."""

    def _check_integrity(self) -> bool:
        base = Path(self.root) / FLOWERS102_FOLDER
        return (base / "jpg").is_dir() and (base / "imagelabels.mat").is_file() and (base / "setid.mat").is_file()


class Flower102(ImageDataModule):
    """Oxford 102 Flowers read with ``torchvision.datasets.Flowers102`` (1,020 train, 1,020 val, 6,149 test).

    Files: ``<data_dir>/flowers-102/jpg/image_00001.jpg ...``, ``imagelabels.mat`` (1-based labels) and
    ``setid.mat`` (``trnid`` / ``valid`` / ``tstid``: 1-based image ids); the official splits are kept. Reading
    needs scipy. ``download=True`` fetches them (with torchvision's MD5 check) in :meth:`prepare_data`; loading
    skips that check so that local copies work offline. Images are resized (shorter side to ``resize_size``) and
    center-cropped to ``crop_size``, or resized straight to ``crop_size`` with ``resize_only``; items are
    ``(3, crop_size, crop_size)`` in ``[0, 1]``.

    Args:
        data_dir: the directory holding ``flowers-102``.
        resize_size: shorter-side size before the center crop.
        crop_size: output height and width (e.g. 224, or 128 with ``resize_size=146``).
        resize_only: resize directly to ``(crop_size, crop_size)``, ignoring the aspect ratio.
        download: fetch the files with torchvision when they are absent.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size (default: ``batch_size``).
        num_workers: dataloader workers.
        seed: unused by the fixed official splits; kept for a uniform interface.
        pin_memory: pin host memory in the dataloaders.

    Raises:
        ValueError: if ``crop_size`` or ``resize_size`` < 1, or ``crop_size > resize_size`` without ``resize_only``.
        FileNotFoundError: from :meth:`prepare_data` / :meth:`setup` when the files are absent.
        CorruptFileError: (a ``ValueError``) from :meth:`setup` when a ``.mat`` file is corrupt, and when an image is
            read that is truncated or corrupt; the message names the file and what to do.

    Example:
        >>> dm = Flower102(data_dir="/nonexistent", crop_size=128, resize_size=146)
        >>> dm.input_shape, dm.num_classes
        ((3, 128, 128), 102)
    """

    num_classes = 102
    class_names = tuple(getattr(TorchvisionFlowers102, "classes", [str(i) for i in range(102)]))

    def __init__(
        self,
        data_dir: str | Path = "data",
        resize_size: int = 256,
        crop_size: int = 224,
        resize_only: bool = False,
        download: bool = False,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, eval_batch_size, num_workers, seed, pin_memory)
        check_int("resize_size", resize_size, 1)
        check_int("crop_size", crop_size, 1)
        if crop_size > resize_size and not resize_only:
            raise ValueError(f"Expected `crop_size` to be <= `resize_size` ({resize_size}), but got {crop_size}")
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.resize_only = resize_only
        self.download = download
        self.input_shape = (3, crop_size, crop_size)

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        base = self.data_dir / FLOWERS102_FOLDER
        missing = [
            f"{FLOWERS102_FOLDER}/{name}"
            for name in FLOWERS102_FILES
            if not ((base / name).is_dir() if name.endswith("/") else (base / name).is_file())
        ]
        if not missing:
            return None
        expected = ", ".join(f"{FLOWERS102_FOLDER}/{name}" for name in FLOWERS102_FILES)
        hint = "torchvision's Flowers102 layout; download=True fetches them when online"
        return missing_files_error("data_dir", self.data_dir, expected, missing, hint)

    def _download(self) -> None:
        if self._missing_files(None) is not None:
            TorchvisionFlowers102(str(self.data_dir), split="train", download=True)

    def _check_mat_files(self) -> None:
        """Read ``imagelabels.mat`` and ``setid.mat`` once, so a corrupt one is named (torchvision's error is not)."""
        from scipy.io import loadmat

        base = self.data_dir / FLOWERS102_FOLDER
        for name, keys in (("imagelabels.mat", ("labels",)), ("setid.mat", ("trnid", "valid", "tstid"))):
            path = base / name
            expected = f"a MATLAB file holding {', '.join(keys)}"
            try:
                content = loadmat(path, squeeze_me=True)
            except Exception as error:  # scipy raises ValueError, TypeError, OSError ... on a corrupt file
                raise CorruptFileError(
                    path, expected, f"reading it failed ({describe(error)})", IMAGE_REMEDY
                ) from error
            missing = [key for key in keys if key not in content]
            if missing:
                raise CorruptFileError(path, expected, f"{missing} are missing", IMAGE_REMEDY)

    def _build(self, stage: str | None) -> tuple[Dataset, Dataset, Dataset]:
        self._check_mat_files()
        transform = resize_crop_transform(self.resize_size, self.crop_size, self.resize_only)
        splits = [
            _Flowers102Files(
                str(self.data_dir), split=split, transform=transform, target_transform=int64_label, loader=read_rgb
            )
            for split in ("train", "val", "test")
        ]
        return splits[0], splits[1], splits[2]
