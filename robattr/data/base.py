"""The shared base of every robattr datamodule."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from robattr.checks import check_int  # re-exported: the datamodules check their integers with it

__all__ = ["SPLITS", "ImageDataModule", "Split", "check_fraction", "check_int", "missing_files_error"]

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")


def check_fraction(name: str, value: object, *, allow_zero: bool = True) -> None:
    """Raise unless ``value`` is a number in ``[0, 1)`` (``(0, 1)`` when ``allow_zero`` is false).

    Example:
        >>> check_fraction("val_fraction", 1.5)
        Traceback (most recent call last):
        ...
        ValueError: Expected `val_fraction` to be a float in [0, 1), but got 1.5
    """
    interval = "[0, 1)" if allow_zero else "(0, 1)"
    message = f"Expected `{name}` to be a float in {interval}, but got {value!r}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(message)
    if not (0.0 <= value < 1.0) or (value == 0.0 and not allow_zero):
        raise ValueError(message)


def missing_files_error(arg: str, directory: Path, expected: str, missing: list[str], hint: str) -> FileNotFoundError:
    """Build the error raised when a dataset is not on disk.

    The message names the argument, the files expected (relative to ``directory``), the directory as received and,
    when it is relative, its absolute form, and at most five of the missing files.

    Example:
        >>> from pathlib import Path
        >>> print(missing_files_error("data_dir", Path("/nowhere"), "a.bin, b.bin", ["b.bin"], "fetch them"))
        Expected `data_dir` to be a directory holding a.bin, b.bin (fetch them), but got '/nowhere' (missing: b.bin)
    """
    where = f"'{directory}'" if directory.is_absolute() else f"'{directory}' (absolute: '{directory.resolve()}')"
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return FileNotFoundError(
        f"Expected `{arg}` to be a directory holding {expected} ({hint}), but got {where} (missing: {shown})"
    )


class ImageDataModule(LightningDataModule):
    """Base class of robattr's image datamodules: splits, dataloaders and argument checks.

    Every item of every split is ``(x, y)``: ``x`` a float32 tensor ``(C, H, W)`` in ``[0, 1]`` and ``y`` an int64
    scalar tensor. Normalisation belongs to the model, never to the data. Splits are fixed by ``seed``; the order in
    which the training set is visited each epoch follows the global seed (``lightning.seed_everything``). Where a
    subclass has no validation data of its own and its validation size is 0, ``val_set`` is ``test_set``.

    Subclasses set the class attributes (or instance attributes) ``num_classes``, ``input_shape`` and
    ``class_names``, implement :meth:`_build` and, when they read files, :meth:`_missing_files` and optionally
    :meth:`_download`.

    Args:
        data_dir: directory holding the dataset (``None`` for datasets that need no files).
        batch_size: training batch size.
        eval_batch_size: batch size of the validation, test and predict loaders (default: ``batch_size``).
        num_workers: dataloader worker processes; workers persist across epochs when there is at least one.
        seed: fixes the splits (and any generated data or offline augmentation).
        pin_memory: pin host memory in the dataloaders.

    Raises:
        TypeError: if an integer argument is not an integer.
        ValueError: if ``batch_size`` or ``eval_batch_size`` < 1, or ``num_workers`` < 0.

    Example:
        >>> import torch
        >>> from robattr.data.datasets import TensorImageDataset
        >>> class Ones(ImageDataModule):
        ...     num_classes, input_shape = 2, (1, 2, 2)
        ...     def _build(self, stage):
        ...         ds = TensorImageDataset(torch.ones(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]))
        ...         return ds, ds, ds
        >>> dm = Ones(data_dir=None, batch_size=2)
        >>> x, y = next(iter(dm.train_dataloader()))
        >>> x.shape, y.dtype
        (torch.Size([2, 1, 2, 2]), torch.int64)
    """

    num_classes: int
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...] = ()

    def __init__(
        self,
        data_dir: str | Path | None = "data",
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        check_int("batch_size", batch_size, 1)
        if eval_batch_size is not None:
            check_int("eval_batch_size", eval_batch_size, 1)
        check_int("num_workers", num_workers, 0)
        check_int("seed", seed, 0)
        self.data_dir = None if data_dir is None else Path(data_dir).expanduser()
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.pin_memory = pin_memory
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    # --- hooks for subclasses -------------------------------------------------------------------------------------

    def _missing_files(self, stage: str | None) -> FileNotFoundError | None:
        """Return the error to raise when files needed for ``stage`` are absent, else ``None``."""
        return None

    def _download(self) -> None:
        """Fetch the dataset into ``data_dir`` (only called when the subclass was built with ``download=True``)."""

    def _build(self, stage: str | None) -> tuple[Dataset | None, Dataset | None, Dataset | None]:
        """Return ``(train_set, val_set, test_set)``."""
        raise NotImplementedError

    # --- Lightning hooks ------------------------------------------------------------------------------------------

    def check_files(self, stage: str | None = None) -> None:
        """Raise :class:`FileNotFoundError` naming ``data_dir`` and the expected files when they are not there."""
        error = self._missing_files(stage)
        if error is not None:
            raise error

    def prepare_data(self) -> None:
        """Download when asked to (local rank 0 only), then check that the files are there."""
        if getattr(self, "download", False):
            try:
                self._download()
            except Exception as error:  # offline, proxy, checksum: say which files are missing, keep the cause
                missing = self._missing_files(None)
                if missing is None:
                    raise
                raise missing from error
        self.check_files()

    def _needs_build(self, stage: str | None) -> bool:
        """Whether :meth:`setup` must (re)build the splits for ``stage``."""
        return self.test_set is None

    def setup(self, stage: str | None = None) -> None:
        """Check the files and build the splits (once; later calls only re-check the files)."""
        self.check_files(stage)
        if self._needs_build(stage):
            self.train_set, self.val_set, self.test_set = self._build(stage)

    def dataset(self, split: Split) -> Dataset:
        """The dataset of one split, calling :meth:`setup` first if needed.

        Raises:
            ValueError: if ``split`` is not ``"train"``, ``"val"`` or ``"test"``.
        """
        if split not in SPLITS:
            raise ValueError(f"Expected `split` to be one of {SPLITS}, but got {split!r}")
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if dataset is None:
            self.setup("fit" if split == "train" else "test")
            dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__} has no {split} split with the current settings")
        return dataset

    def _loader(self, split: Split, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(split),
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
