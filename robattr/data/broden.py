"""Broden probing sets in their on-disk format: images, pixel- and image-level concept labels.

Network Dissection (Bau et al. 2017) and its corruption (Srivastava et al., ICCV 2023) read the *Broden* dataset
from a directory laid out as follows (all image and mask paths are relative to ``<root>/images``)::

    index.csv        image,split,ih,iw,sh,sw,<category>...   one row per image
    category.csv     name,first,last,count,frequency           the categories present
    label.csv        number,name,category,frequency,coverage,syns
    c_<cat>.csv      code,number,name,frequency,coverage       dense per-category codes of the global numbers

A category cell of ``index.csv`` holds zero or more ``;``-separated entries. A file name is a pixel-level label
plane: a PNG whose pixels store the **global** label number ``n = R + 256 * G`` (0 = unlabelled). A decimal integer is
an image-level label: the global number applies to every pixel, and is expanded here into a constant plane. All planes
of the selected categories are stacked into one ``(Q, sh, sw)`` tensor per image; a pixel can be labelled in several
planes (Broden's overlapping ``part`` planes). Rows with no entry in any selected category are dropped.

The *primary category* of a label is, among the selected categories whose ``c_<cat>.csv`` lists it, the one with the
largest per-category coverage (ties go to the later category); Network Dissection gates its IoU denominators by it.
"""

from __future__ import annotations

import copy
import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from robattr.data.files import IMAGE_REMEDY, CorruptFileError, describe, load_tensors, read_rgb

INDEX_COLUMNS: tuple[str, ...] = ("image", "ih", "iw", "sh", "sw")
LOSSLESS_SUFFIX = ".pt"
JPEG_SUFFIX = ".jpg"


@dataclass(frozen=True)
class BrodenLabel:
    """One row of ``label.csv``: the global number, its name, and the categories it appears in with their counts."""

    number: int
    name: str
    categories: dict[str, int]
    frequency: int
    coverage: float
    syns: tuple[str, ...]


@dataclass(frozen=True)
class BrodenRow:
    """One kept row of ``index.csv``: the image path, sizes, class target and the raw entries of each category."""

    image: str
    split: str
    ih: int
    iw: int
    sh: int
    sw: int
    entries: dict[str, tuple[str, ...]]
    target: int


class BrodenSample(NamedTuple):
    """One probing image: ``image`` ``(3, ih, iw)`` in ``[0, 1]``, ``planes`` ``(Q, sh, sw)`` global label numbers
    (int64), its ``index`` in the dataset and the class ``target`` (-1 when the set has no class labels).
    """

    image: Tensor
    planes: Tensor
    index: int
    target: int


class BrodenBatch(NamedTuple):
    """A collated batch: ``images`` ``(B, 3, ih, iw)``, ``planes`` ``(B, Q, sh, sw)`` zero-padded to the largest
    ``Q`` of the batch, ``indices`` ``(B,)`` and ``targets`` ``(B,)``.
    """

    images: Tensor
    planes: Tensor
    indices: Tensor
    targets: Tensor


ROW_REMEDY = "repair or remove that row (a copy or download cut short, or an edit by hand, can leave such rows)"


class _Row(dict):
    """One parsed CSV row, remembering its file and line number for error messages."""

    def __init__(self, fields: dict[str, str], path: str, line: int) -> None:
        super().__init__(fields)
        self.path = path
        self.line = line

    def number(self, column: str, kind: type = int, default: float | None = None, minimum: float | None = None):
        """The value of ``column`` parsed as ``kind``; ``default`` for an empty cell (when given).

        Raises:
            CorruptFileError: naming the file, the line, the column and the value.
        """
        value = self.get(column)
        if (value is None or value == "") and default is not None:
            return default
        what = "an integer" if kind is int else "a number"
        bound = "" if minimum is None else f" >= {minimum}"
        try:
            parsed = kind(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or (minimum is not None and parsed < minimum):
            expected = f"a CSV file with {what}{bound} in column `{column}` of every row"
            raise CorruptFileError(self.path, expected, f"line {self.line} has {value!r}", ROW_REMEDY)
        return parsed


def _read_csv(path: str, argument: str, root: str) -> list[_Row]:
    """All rows of a CSV file with a header; a row with fewer or more fields than the header is an error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Expected `{argument}` to be a Broden directory containing {os.path.basename(path)}, but got {root!r}"
        )
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for fields in reader:
                if None in fields or None in fields.values():  # short rows get None values, long rows a None key
                    cells = [v for k, v in fields.items() if k is not None and v is not None] + fields.get(None, [])
                    expected = f"a CSV file whose rows have the {len(header)} fields of its header"
                    problem = f"line {reader.line_num} has {len(cells)} ({','.join(cells)!r})"
                    raise CorruptFileError(path, expected, problem, ROW_REMEDY)
                rows.append(_Row(fields, path, reader.line_num))
    except (UnicodeDecodeError, csv.Error) as error:
        problem = f"reading it failed ({describe(error)})"
        raise CorruptFileError(path, "a UTF-8 CSV file", problem, IMAGE_REMEDY) from error
    return rows


def _require_columns(rows: list[_Row], columns: Sequence[str], path: str) -> None:
    present = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in present]
    if rows and missing:
        name = os.path.basename(path)
        raise ValueError(f"Expected {name} to have the columns {list(columns)}, but {missing} are missing in {path!r}")


def _parse_label_categories(row: _Row) -> dict[str, int]:
    """The ``category`` cell of a ``label.csv`` row: ``"object(529);part(12)"`` -> ``{"object": 529, "part": 12}``."""
    out: dict[str, int] = {}
    for item in filter(None, (row.get("category") or "").split(";")):
        name, _, count = item.partition("(")
        try:
            out[name] = int(count.rstrip(")") or 0)
        except ValueError:
            expected = "a label.csv whose `category` cells read like 'object(529);part(12)'"
            raise CorruptFileError(row.path, expected, f"line {row.line} has {row['category']!r}", ROW_REMEDY) from None
    return out


def decode_label_png(path: str) -> Tensor:
    """Global label numbers ``R + 256 * G`` of a Broden mask PNG, as an int64 ``(H, W)`` tensor.

    Raises:
        FileNotFoundError: if the file does not exist.
        CorruptFileError: (a ``ValueError``) if it is truncated or not an image, naming it.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> rgb = np.zeros((1, 2, 3), dtype=np.uint8); rgb[0, 1] = (44, 1, 0)  # 44 + 256 = 300
        >>> path = os.path.join(tempfile.mkdtemp(), "m.png"); Image.fromarray(rgb).save(path)
        >>> decode_label_png(path)
        tensor([[  0, 300]])
    """
    rgb = np.asarray(read_rgb(path), dtype=np.int64)
    return torch.from_numpy(rgb[..., 0] + 256 * rgb[..., 1])


def load_image(path: str) -> Tensor:
    """An RGB image as a float ``(3, H, W)`` tensor in ``[0, 1]``; a ``.pt`` file holds such a tensor (lossless).

    Raises:
        FileNotFoundError: if the file does not exist.
        CorruptFileError: (a ``ValueError``) if it is truncated or corrupt, or a ``.pt`` file holds no float image
            tensor; the message names the file and what to do.
    """
    if path.endswith(LOSSLESS_SUFFIX):
        remedy = "delete the corrupted set's directory and run the corruption again"
        image = load_tensors(path, "a float image tensor saved by robattr", remedy)
        if not isinstance(image, Tensor) or image.dim() != 3 or not image.is_floating_point():
            found = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise CorruptFileError(path, "a float image tensor (3, H, W) saved by robattr", f"it holds {found}", remedy)
        return image.float()
    arr = np.asarray(read_rgb(path), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


class BrodenDataset(Dataset):
    """A Broden-format probing set read from disk (see the module docstring for the format).

    ``dataset[i]`` is a :class:`BrodenSample`; :func:`collate_broden` batches samples (it pads the label planes).
    Labels are global numbers; ``label_names[n]`` is the name of label ``n`` (``""`` for the gaps of ``label.csv``) and
    ``primary_category[n]`` the index into ``categories`` of its primary category (-1 for label 0 and labels of no
    selected category).

    Args:
        root: the Broden directory (``broden1_224`` or a generated set).
        categories: the categories to use, in this order (default: every category of ``category.csv``). The reference
            attack code used all six: object, part, scene, texture, color, material.
        index_file: the index to read (``index_sm.csv`` is the small test index of NetDissect).
        class_column: an optional ``index.csv`` column with integer class labels (not part of Broden; a generated set
            may have one, so the accuracy of a classifier on corrupted probing data can be measured).
        image_overrides: an optional directory mirroring ``images/`` whose files replace the originals: for the image
            ``images/<p>``, ``<image_overrides>/images/<p>.pt`` (a float tensor, lossless), ``.../<p>`` or
            ``.../<p>.jpg`` (an image file) is read instead when it exists. This is how corrupted probing sets are
            read (the reference redirects image paths the same way).

    Raises:
        FileNotFoundError: if ``root`` or one of its csv files is missing.
        ValueError: if a column is missing or a selected category is unknown.

    Example:
        >>> import tempfile
        >>> from robattr.data.broden_synthetic import write_synthetic_broden
        >>> root = write_synthetic_broden(tempfile.mkdtemp(), n_images=8, seed=0)
        >>> ds = BrodenDataset(root)
        >>> ds.categories
        ['color', 'object', 'part', 'scene', 'texture']
        >>> sample = ds[0]
        >>> tuple(sample.image.shape), sample.planes.shape[1:]
        ((3, 64, 64), torch.Size([32, 32]))
    """

    def __init__(
        self,
        root: str,
        categories: list[str] | None = None,
        index_file: str = "index.csv",
        class_column: str | None = None,
        image_overrides: str | None = None,
    ) -> None:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"Expected `root` to be an existing Broden directory, but got {root!r}")
        self.root = root
        self.index_file = index_file
        self.class_column = class_column
        self.images_only = False
        self.categories = self._read_categories(categories)
        self.labels = self._read_labels()
        self.label_names = [""] * self.num_labels
        for label in self.labels.values():
            self.label_names[label.number] = label.name
        self.category_codes = {cat: self._read_codes(cat) for cat in self.categories}
        self.primary_category = self._primary_categories()
        self.rows = self._read_index()
        self.image_overrides: str | None = None
        self._overrides: dict[str, str] = {}
        if image_overrides is not None:
            self._set_overrides(image_overrides)

    # ---------------------------------------------------------------- metadata

    def _read_categories(self, categories: list[str] | None) -> list[str]:
        path = os.path.join(self.root, "category.csv")
        rows = _read_csv(path, "root", self.root)
        _require_columns(rows, ("name",), path)
        available = [r["name"] for r in rows]
        if categories is None:
            return available
        unknown = [c for c in categories if c not in available]
        if unknown or not categories:
            raise ValueError(f"Expected `categories` to be a non-empty subset of {available}, but got {categories}")
        return list(categories)

    def _read_labels(self) -> dict[int, BrodenLabel]:
        path = os.path.join(self.root, "label.csv")
        rows = _read_csv(path, "root", self.root)
        _require_columns(rows, ("number", "name", "category"), path)
        labels = {}
        for r in rows:
            number = r.number("number", minimum=0)
            if number == 0:  # "unlabelled" is never a concept
                continue
            labels[number] = BrodenLabel(
                number=number,
                name=r["name"],
                categories=_parse_label_categories(r),
                frequency=r.number("frequency", default=0),
                coverage=r.number("coverage", float, default=0.0),
                syns=tuple(filter(None, (r.get("syns") or "").split(";"))),
            )
        return labels

    @property
    def num_labels(self) -> int:
        """``1 + `` the largest global label number (label numbers index arrays of this length)."""
        return 1 + max(self.labels, default=0)

    def _read_codes(self, category: str) -> dict[int, tuple[int, float]]:
        """Global number -> (per-category code, per-category coverage) from ``c_<category>.csv``."""
        path = os.path.join(self.root, f"c_{category}.csv")
        rows = _read_csv(path, "root", self.root)
        _require_columns(rows, ("code", "number"), path)
        return {
            r.number("number", minimum=0): (r.number("code"), r.number("coverage", float, default=0.0)) for r in rows
        }

    def _primary_categories(self) -> Tensor:
        primary = torch.full((self.num_labels,), -1, dtype=torch.long)
        best = [float("-inf")] * self.num_labels
        for g, cat in enumerate(self.categories):
            for number, (_, coverage) in self.category_codes[cat].items():
                if 0 < number < self.num_labels and coverage >= best[number]:
                    best[number] = coverage
                    primary[number] = g
        return primary

    def label_number(self, name: str | int, category: str | None = None) -> int:
        """The global number of a label given by name (optionally within one category) or by number.

        Raises:
            ValueError: if no label, or several labels of different numbers, have that name.

        Example:
            >>> import tempfile
            >>> from robattr.data.broden_synthetic import write_synthetic_broden
            >>> BrodenDataset(write_synthetic_broden(tempfile.mkdtemp(), n_images=4)).label_number("green")
            2
        """
        if isinstance(name, int) or (isinstance(name, str) and name.isdigit()):
            number = int(name)
            if number not in self.labels:
                raise ValueError(
                    f"Expected the label number to be one of the labels of {self.root!r}, but got {number}"
                )
            return number
        cats = self.categories if category is None else [category]
        numbers = sorted(
            {n for n, lab in self.labels.items() if lab.name == name and any(c in lab.categories for c in cats)}
        )
        if len(numbers) != 1:
            where = f"category {category!r}" if category else f"categories {self.categories}"
            found = "none" if not numbers else f"several ({numbers})"
            raise ValueError(
                f"Expected the label name {name!r} to name exactly one label in {where}, but found {found}"
            )
        return numbers[0]

    # ---------------------------------------------------------------- index

    def _read_index(self) -> list[BrodenRow]:
        path = os.path.join(self.root, self.index_file)
        rows = _read_csv(path, "root", self.root)
        extra = [self.class_column] if self.class_column else []
        _require_columns(rows, list(INDEX_COLUMNS) + self.categories + extra, path)
        kept = []
        for r in rows:
            entries = {c: tuple(filter(None, (r[c] or "").split(";"))) for c in self.categories}
            if not r["image"]:
                expected = "a Broden index with an image path in column `image` of every row"
                raise CorruptFileError(path, expected, f"line {r.line} has none", ROW_REMEDY)
            sizes = {c: r.number(c, minimum=1) for c in ("ih", "iw", "sh", "sw")}  # checked on dropped rows too
            target = r.number(self.class_column) if self.class_column else -1
            if not any(entries.values()):  # no data in any selected category
                continue
            kept.append(BrodenRow(image=r["image"], split=r.get("split", ""), entries=entries, target=target, **sizes))
        if not kept:
            expected = f"a Broden index with at least one image labelled in the categories {self.categories}"
            raise ValueError(f"Expected {path!r} to be {expected}, but it has none ({len(rows)} rows in all)")
        return kept

    @property
    def has_targets(self) -> bool:
        """Whether the rows carry class labels (``class_column`` was given)."""
        return self.class_column is not None

    def __len__(self) -> int:
        return len(self.rows)

    # ---------------------------------------------------------------- overrides

    def _set_overrides(self, directory: str) -> None:
        base = os.path.join(directory, "images")
        if not os.path.isdir(base):
            raise ValueError(f"Expected `image_overrides` to be a directory containing images/, but got {directory!r}")
        present = set()
        for dirpath, _, files in os.walk(base):
            rel_dir = os.path.relpath(dirpath, base)
            present.update(os.path.normpath(os.path.join(rel_dir, f)) for f in files)
        self.image_overrides = directory
        self._overrides = {}
        for row in self.rows:
            rel = os.path.normpath(row.image)
            for candidate in (rel + LOSSLESS_SUFFIX, rel, rel + JPEG_SUFFIX):
                if candidate in present:
                    self._overrides[row.image] = os.path.join(base, candidate)
                    break

    def redirect(self, image_overrides: str | None) -> BrodenDataset:
        """A shallow copy reading the images of ``image_overrides`` where it has them (``None``: the originals)."""
        other = copy.copy(self)
        other.image_overrides, other._overrides = None, {}
        if image_overrides is not None:
            other._set_overrides(image_overrides)
        return other

    def without_planes(self) -> BrodenDataset:
        """A shallow copy whose samples skip decoding the label planes (``planes`` is ``(0, sh, sw)``)."""
        other = copy.copy(self)
        other.images_only = True
        return other

    @property
    def num_overridden(self) -> int:
        """How many images are read from ``image_overrides``."""
        return len(self._overrides)

    # ---------------------------------------------------------------- items

    def image_path(self, index: int) -> str:
        """The file the image of row ``index`` is read from (an override if there is one)."""
        row = self.rows[index]
        return self._overrides.get(row.image) or os.path.join(self.root, "images", row.image)

    def load_image(self, index: int) -> Tensor:
        """The image of row ``index`` as a float ``(3, ih, iw)`` tensor in ``[0, 1]``."""
        row = self.rows[index]
        path = self.image_path(index)
        image = load_image(path)
        if tuple(image.shape) != (3, row.ih, row.iw):
            expected = f"(3, {row.ih}, {row.iw}) as in index.csv"
            raise ValueError(f"Expected the image {path!r} to have shape {expected}, but got {tuple(image.shape)}")
        return image

    def load_planes(self, index: int) -> Tensor:
        """The label planes of row ``index``: int64 ``(Q, sh, sw)`` global label numbers, categories in order."""
        row = self.rows[index]
        planes = []
        for cat in self.categories:
            for entry in row.entries[cat]:
                if entry.isdigit():
                    planes.append(torch.full((row.sh, row.sw), int(entry), dtype=torch.long))
                    continue
                path = os.path.join(self.root, "images", entry)
                plane = decode_label_png(path)
                if tuple(plane.shape) != (row.sh, row.sw):
                    expected = f"({row.sh}, {row.sw}) as in index.csv"
                    raise ValueError(
                        f"Expected the mask {path!r} to have shape {expected}, but got {tuple(plane.shape)}"
                    )
                planes.append(plane)
        if not planes:
            return torch.zeros((0, row.sh, row.sw), dtype=torch.long)
        stacked = torch.stack(planes)
        if int(stacked.max()) >= self.num_labels:
            raise ValueError(
                f"Expected the label numbers of image {row.image!r} to be in label.csv, but got {int(stacked.max())}"
            )
        return stacked

    def __getitem__(self, index: int) -> BrodenSample:
        row = self.rows[index]
        planes = torch.zeros((0, row.sh, row.sw), dtype=torch.long) if self.images_only else self.load_planes(index)
        return BrodenSample(self.load_image(index), planes, index, row.target)

    def loader(self, batch_size: int = 64, num_workers: int = 0, images_only: bool = False) -> DataLoader:
        """A sequential (never shuffled) :class:`~torch.utils.data.DataLoader` yielding :class:`BrodenBatch` es."""
        dataset = self.without_planes() if images_only else self
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate_broden
        )


def collate_broden(samples: Sequence[BrodenSample]) -> BrodenBatch:
    """Stack samples into a :class:`BrodenBatch`, zero-padding the label planes to the largest ``Q``.

    Example:
        >>> planes = [torch.ones(q, 2, 2, dtype=torch.long) for q in (1, 2)]
        >>> s = [BrodenSample(torch.zeros(3, 4, 4), p, i, -1) for i, p in enumerate(planes)]
        >>> b = collate_broden(s)
        >>> tuple(b.planes.shape), b.planes[0, 1].sum().item()
        ((2, 2, 2, 2), 0)
    """
    shapes = {tuple(s.image.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"Expected the images of a batch to share one shape, but got {sorted(shapes)}")
    q = max(s.planes.shape[0] for s in samples)
    sh, sw = samples[0].planes.shape[1:]
    planes = torch.zeros((len(samples), q, sh, sw), dtype=torch.long)
    for i, s in enumerate(samples):
        planes[i, : s.planes.shape[0]] = s.planes
    return BrodenBatch(
        images=torch.stack([s.image for s in samples]),
        planes=planes,
        indices=torch.tensor([s.index for s in samples], dtype=torch.long),
        targets=torch.tensor([s.target for s in samples], dtype=torch.long),
    )
