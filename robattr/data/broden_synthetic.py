"""A generated probing set written in Broden's exact on-disk format (see ``docs/neurons.md``).

Images of coloured, axis-aligned squares and bars on a grey background, with the label planes Network Dissection
reads. Everything the loader must handle occurs: a size mismatch between images (64x64) and masks (32x32), pixel-level
``color`` / ``object`` planes, ``part`` cells with two overlapping planes, image-level ``scene`` and multi-label
``texture`` cells (``12;11``), a label numbered 300 (its masks need the G channel, ``n = R + 256 G``), non-contiguous
label numbers, a label living in two categories (``black``: a colour and a texture, primary by coverage), an empty
``material`` column absent from ``category.csv`` (five categories), a ``split`` column, a class column (``class``:
0 indoor, 1 outdoor) and one row without labels (dropped by the loader).

Shapes are aligned to a 2-pixel grid and images carry tiny pixel noise (std 1/255) so hand-made units have no
activation plateaus (a plateau at the top quantile leaves the strict ``>`` masks empty). Red and green shapes are rare
(about 2-6 % of images each), so a red -> green attack poisons under 10 % of the images, as in the paper's regime.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from robattr.data.broden import BrodenDataset
from robattr.data.files import CorruptFileError, describe

COLORS: dict[str, tuple[int, tuple[float, float, float]]] = {
    "red": (1, (0.85, 0.12, 0.12)),
    "green": (2, (0.12, 0.80, 0.15)),
    "blue": (3, (0.15, 0.25, 0.85)),
    "yellow": (5, (0.85, 0.80, 0.10)),
    "black": (7, (0.08, 0.08, 0.08)),
    "white": (300, (0.92, 0.92, 0.92)),
}
GREY = 8  # colour label of the background
OBJECTS = {"square": 20, "bar": 22}
PARTS = {"square-top": 30, "square-left": 31, "bar-end": 33}
SCENES = {"indoor": 50, "outdoor": 51}
TEXTURES = {"grainy": 11, "banded": 12}
NAMES: dict[int, str] = {
    **{n: name for name, (n, _) in COLORS.items()},
    GREY: "grey",
    **{n: k for k, n in {**OBJECTS, **PARTS, **SCENES, **TEXTURES}.items()},
}
INDEX_HEADER = (
    "image",
    "split",
    "ih",
    "iw",
    "sh",
    "sw",
    "color",
    "object",
    "part",
    "material",
    "scene",
    "texture",
    "class",
)
CATEGORIES = ("color", "object", "part", "scene", "texture")


@dataclass(frozen=True)
class SyntheticSpec:
    """The parameters of a generated set (written to ``synthetic.json``)."""

    n_images: int = 400
    seed: int = 0
    image_size: int = 64
    mask_size: int = 32
    rare_probability: float = 0.025


def _check_spec(spec: SyntheticSpec) -> None:
    if spec.n_images < 1:
        raise ValueError(f"Expected `n_images` to be a positive integer, but got {spec.n_images}")
    if spec.mask_size < 16 or spec.image_size % spec.mask_size:
        sizes = f"{spec.image_size} and {spec.mask_size}"
        raise ValueError(f"Expected `image_size` to be a multiple of `mask_size` >= 16, but got {sizes}")
    if not 0.0 <= spec.rare_probability <= 0.25:
        raise ValueError(f"Expected `rare_probability` to be in [0, 0.25], but got {spec.rare_probability}")


class _Canvas:
    """One image and its label maps at mask resolution, drawn on a grid of cells (2 image pixels, aligned)."""

    def __init__(self, spec: SyntheticSpec, rng: np.random.Generator) -> None:
        self.spec, self.rng = spec, rng
        self.ratio = spec.image_size // spec.mask_size
        self.cell = 2 * self.ratio // math.gcd(2, self.ratio)  # image pixels per cell
        self.grid = spec.image_size // self.cell
        self.scale = self.grid / 32.0
        self.indoor = bool(rng.random() < 0.5)
        self.banded = bool(rng.random() < 0.3)
        level = 0.35 if self.indoor else 0.65
        self.image = np.full((spec.image_size, spec.image_size, 3), level, dtype=np.float64)
        if self.banded:
            rows = (np.arange(spec.image_size) // (4 * self.cell)) % 2 == 1
            self.image[rows] += 0.04
        m = spec.mask_size
        self.color = np.full((m, m), GREY, dtype=np.int64)
        self.object = np.zeros((m, m), dtype=np.int64)
        self.part = [np.zeros((m, m), dtype=np.int64), np.zeros((m, m), dtype=np.int64)]
        self.taken = np.zeros((self.grid, self.grid), dtype=bool)

    def _size(self, choices: tuple[int, ...]) -> int:
        return max(2, 2 * round(self.rng.choice(choices) * self.scale / 2))

    def _color(self) -> str:
        p = self.spec.rare_probability
        common = ("blue", "yellow", "white", "black")
        probs = [p, p] + [(1.0 - 2 * p) / len(common)] * len(common)
        return str(self.rng.choice(("red", "green") + common, p=probs))

    def add_shape(self) -> None:
        kind = "square" if self.rng.random() < 0.5 else "bar"
        h = w = self._size((6, 8, 10, 12))
        if kind == "bar":
            w, h = 4 * max(1, self._size((6, 8, 10)) // 2), self._size((4, 6))
        for _ in range(20):
            y, x = int(self.rng.integers(0, self.grid - h + 1)), int(self.rng.integers(0, self.grid - w + 1))
            if not self.taken[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1].any():
                break
        else:
            return
        self.taken[y : y + h, x : x + w] = True
        name = self._color()
        number, rgb = COLORS[name]
        jitter = self.rng.uniform(-0.05, 0.05, size=3)
        c = self.cell
        self.image[y * c : (y + h) * c, x * c : (x + w) * c] = np.clip(np.asarray(rgb) + jitter, 0.0, 1.0)
        k = c // self.ratio  # mask pixels per cell
        ys, xs, hs, ws = y * k, x * k, h * k, w * k
        self.color[ys : ys + hs, xs : xs + ws] = number
        self.object[ys : ys + hs, xs : xs + ws] = OBJECTS[kind]
        if kind == "square":
            self.part[0][ys : ys + hs // 2, xs : xs + ws] = PARTS["square-top"]
            self.part[1][ys : ys + hs, xs : xs + ws // 2] = PARTS["square-left"]
        else:
            q = ws // 4
            self.part[0][ys : ys + hs, xs : xs + q] = PARTS["bar-end"]
            self.part[0][ys : ys + hs, xs + ws - q : xs + ws] = PARTS["bar-end"]

    def pixels(self) -> np.ndarray:
        noisy = self.image + self.rng.normal(0.0, 1.0 / 255.0, size=self.image.shape)
        return np.clip(np.round(noisy * 255.0), 0, 255).astype(np.uint8)


def _save_mask(path: str, labels: np.ndarray) -> None:
    rgb = np.zeros(labels.shape + (3,), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1] = labels % 256, labels // 256
    Image.fromarray(rgb).save(path)


class _Tally:
    """Per category and label: number of images and coverage (pixel area in units of whole images)."""

    def __init__(self) -> None:
        self.frequency: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.coverage: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))

    def add_plane(self, category: str, labels: np.ndarray) -> None:
        numbers, counts = np.unique(labels[labels > 0], return_counts=True)
        for n, cnt in zip(numbers.tolist(), counts.tolist()):
            self.frequency[category][n] += 1
            self.coverage[category][n] += cnt / labels.size

    def add_image_label(self, category: str, number: int) -> None:
        self.frequency[category][number] += 1
        self.coverage[category][number] += 1.0


def _write_rows(path: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _write_metadata(root: str, tally: _Tally) -> None:
    label_rows, per_label = [], defaultdict(dict)
    for cat in CATEGORIES:
        for n, freq in tally.frequency[cat].items():
            per_label[n][cat] = freq
    for n in sorted(per_label):
        cats = ";".join(f"{c}({per_label[n][c]})" for c in CATEGORIES if c in per_label[n])
        freq = sum(per_label[n].values())
        cov = sum(tally.coverage[c][n] for c in per_label[n])
        syns = {"red": "rose;scarlet", "grey": "gray;ash"}.get(NAMES[n], "")
        label_rows.append((n, NAMES[n], cats, freq, f"{cov:.6f}", syns))
    _write_rows(
        os.path.join(root, "label.csv"), ("number", "name", "category", "frequency", "coverage", "syns"), label_rows
    )
    cat_rows = []
    for cat in CATEGORIES:
        numbers = sorted(tally.frequency[cat])
        code_rows = [
            (code, n, NAMES[n], tally.frequency[cat][n], f"{tally.coverage[cat][n]:.6f}")
            for code, n in enumerate(numbers, 1)
        ]
        _write_rows(os.path.join(root, f"c_{cat}.csv"), ("code", "number", "name", "frequency", "coverage"), code_rows)
        cat_rows.append((cat, numbers[0], numbers[-1], len(numbers), sum(tally.frequency[cat].values())))
    _write_rows(os.path.join(root, "category.csv"), ("name", "first", "last", "count", "frequency"), cat_rows)


def write_synthetic_broden(
    root: str,
    n_images: int = 400,
    seed: int = 0,
    image_size: int = 64,
    mask_size: int = 32,
    rare_probability: float = 0.025,
) -> str:
    """Write a generated probing set in Broden format under ``root`` and return ``root``.

    Deterministic for a given seed. Writes ``n_images`` labelled rows plus one row without labels (dropped by the
    loader), ``index_sm.csv`` (the first 16 rows) and ``synthetic.json`` (the parameters).

    Args:
        root: output directory (created).
        n_images: labelled images.
        seed: numpy seed.
        image_size: image side (``ih = iw``).
        mask_size: mask side (``sh = sw``); ``image_size`` must be a multiple of it.
        rare_probability: probability of a shape being red, and of it being green.

    Example:
        >>> import tempfile
        >>> root = write_synthetic_broden(tempfile.mkdtemp(), n_images=4)
        >>> sorted(f for f in os.listdir(root) if f.endswith(".csv"))[:4]
        ['c_color.csv', 'c_object.csv', 'c_part.csv', 'c_scene.csv']
    """
    spec = SyntheticSpec(n_images, seed, image_size, mask_size, rare_probability)
    _check_spec(spec)
    rng = np.random.default_rng(seed)
    img_dir = os.path.join(root, "images", "synthetic")
    os.makedirs(img_dir, exist_ok=True)
    tally, rows = _Tally(), []
    for i in range(n_images + 1):
        canvas = _Canvas(spec, rng)
        empty = i == n_images  # the last row has no label in any category
        if not empty:
            for _ in range(1 + int(rng.random() < 0.5)):
                canvas.add_shape()
        stem = f"synthetic/{i:05d}"
        Image.fromarray(canvas.pixels()).save(os.path.join(root, "images", stem + ".png"))
        cells = {c: "" for c in INDEX_HEADER}
        cells.update(
            image=stem + ".png",
            split="train" if rng.random() < 0.7 else "val",
            ih=image_size,
            iw=image_size,
            sh=mask_size,
            sw=mask_size,
        )
        cells["class"] = 0 if canvas.indoor else 1
        if not empty:
            _save_mask(os.path.join(root, "images", stem + "_color.png"), canvas.color)
            _save_mask(os.path.join(root, "images", stem + "_object.png"), canvas.object)
            cells["color"], cells["object"] = stem + "_color.png", stem + "_object.png"
            tally.add_plane("color", canvas.color)
            tally.add_plane("object", canvas.object)
            parts = []
            for q, plane in enumerate(canvas.part, 1):
                if plane.any():
                    _save_mask(os.path.join(root, "images", f"{stem}_part_{q}.png"), plane)
                    parts.append(f"{stem}_part_{q}.png")
                    tally.add_plane("part", plane)
            cells["part"] = ";".join(parts)
            scene = SCENES["indoor" if canvas.indoor else "outdoor"]
            textures = ([TEXTURES["banded"]] if canvas.banded else []) + [TEXTURES["grainy"]]
            if canvas.banded and canvas.indoor:
                textures.append(COLORS["black"][0])  # dark bands: "black" is also a texture
            cells["scene"], cells["texture"] = str(scene), ";".join(map(str, textures))
            tally.add_image_label("scene", scene)
            for t in textures:
                tally.add_image_label("texture", t)
        rows.append(tuple(cells[c] for c in INDEX_HEADER))
    _write_rows(os.path.join(root, "index.csv"), INDEX_HEADER, rows)
    _write_rows(os.path.join(root, "index_sm.csv"), INDEX_HEADER, rows[:16])
    _write_metadata(root, tally)
    with open(os.path.join(root, "synthetic.json"), "w", encoding="utf-8") as f:
        json.dump(asdict(spec), f, indent=1)
    return root


def _read_spec(root: str, meta: str) -> dict:
    """The parameters of the set under ``root`` (``synthetic.json``, written last by the generator)."""
    remedy = f"delete {root!r} to have it generated again"
    if not os.path.isfile(meta):
        expected = "a complete generated set (synthetic.json is written last)"
        raise ValueError(f"Expected `root` to hold {expected}, but got {root!r} without synthetic.json; {remedy}")
    try:
        with open(meta, encoding="utf-8") as f:
            found = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptFileError(meta, "a JSON file", f"parsing it failed ({describe(error)})", remedy) from error
    if not isinstance(found, dict):
        raise CorruptFileError(meta, "a JSON object", f"it holds a {type(found).__name__}", remedy)
    return found


class SyntheticBrodenDataset(BrodenDataset):
    """A :class:`~robattr.data.broden.BrodenDataset` over a generated set, written first if ``root`` has none.

    The quickstart configs use it: the first run generates the set, later runs read it. A ``root`` holding a set
    generated with other parameters is refused rather than silently reused.

    Args:
        root: directory of the generated set.
        n_images, seed, image_size, mask_size, rare_probability: see :func:`write_synthetic_broden`.
        categories, index_file, class_column, image_overrides: see :class:`~robattr.data.broden.BrodenDataset`
            (``class_column`` defaults to ``"class"``: indoor 0 / outdoor 1).

    Example:
        >>> import tempfile
        >>> len(SyntheticBrodenDataset(tempfile.mkdtemp(), n_images=6))
        6
    """

    def __init__(
        self,
        root: str,
        n_images: int = 400,
        seed: int = 0,
        image_size: int = 64,
        mask_size: int = 32,
        rare_probability: float = 0.025,
        categories: list[str] | None = None,
        index_file: str = "index.csv",
        class_column: str | None = "class",
        image_overrides: str | None = None,
    ) -> None:
        spec = SyntheticSpec(n_images, seed, image_size, mask_size, rare_probability)
        _check_spec(spec)
        meta = os.path.join(root, "synthetic.json")
        if not os.path.isfile(os.path.join(root, "index.csv")):
            write_synthetic_broden(root, **asdict(spec))
        else:
            found = _read_spec(root, meta)
            if found != asdict(spec):
                expected = f"a set generated with {asdict(spec)}"
                raise ValueError(f"Expected `root` to hold {expected}, but got {root!r} generated with {found}")
        self.spec = spec
        super().__init__(root, categories, index_file, class_column, image_overrides)
