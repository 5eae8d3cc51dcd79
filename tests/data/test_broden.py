"""The Broden loader against the files a generated set leaves on disk (read back here with csv and PIL only)."""

from __future__ import annotations

import csv
import os
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from robattr.data.broden import BrodenDataset, collate_broden, decode_label_png
from robattr.data.broden_synthetic import write_synthetic_broden


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return write_synthetic_broden(str(tmp_path_factory.mktemp("broden") / "set"), n_images=40, seed=3)


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _png_labels(path: str) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1]


def test_index_rows_round_trip_and_the_empty_row_is_dropped(root):
    raw = _rows(os.path.join(root, "index.csv"))
    ds = BrodenDataset(root, class_column="class")
    cats = ds.categories
    kept = [r for r in raw if any(r[c] for c in cats)]
    assert len(raw) == 41 and len(kept) == 40 == len(ds)  # the generator writes one row without labels
    for row, r in zip(ds.rows, kept):
        assert (row.image, row.split) == (r["image"], r["split"])
        assert (row.ih, row.iw, row.sh, row.sw) == (int(r["ih"]), int(r["iw"]), int(r["sh"]), int(r["sw"]))
        assert row.entries == {c: tuple(filter(None, r[c].split(";"))) for c in cats}
        assert row.target == int(r["class"])


def test_images_and_label_planes_round_trip(root):
    raw = [r for r in _rows(os.path.join(root, "index.csv")) if r["color"]]
    ds = BrodenDataset(root)
    for i, r in enumerate(raw):
        sample = ds[i]
        pixels = np.asarray(Image.open(os.path.join(root, "images", r["image"])).convert("RGB"))
        assert torch.equal(sample.image, torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255)
        expected = []
        for cat in ds.categories:  # category order, entries in cell order; integers expand to constant planes
            for entry in filter(None, r[cat].split(";")):
                if entry.isdigit():
                    expected.append(np.full((int(r["sh"]), int(r["sw"])), int(entry)))
                else:
                    expected.append(_png_labels(os.path.join(root, "images", entry)))
        assert torch.equal(sample.planes, torch.from_numpy(np.stack(expected)))
        assert sample.index == i and sample.target == -1


def test_label_numbers_above_255_use_the_green_channel(root):
    ds = BrodenDataset(root)
    white = ds.label_number("white")
    assert white == 300
    found = False
    for i in range(len(ds)):
        color_png = os.path.join(root, "images", ds.rows[i].entries["color"][0])
        rgb = np.asarray(Image.open(color_png).convert("RGB"))
        if (rgb[..., 1] == 1).any():  # G = 1: a number in [256, 511]
            found = True
            assert (decode_label_png(color_png) == 300).sum() == ((rgb[..., 0] == 44) & (rgb[..., 1] == 1)).sum() > 0
            assert (ds[i].planes == 300).any()
    assert found


def test_two_plane_part_cells_and_multi_label_image_level_cells(root):
    ds = BrodenDataset(root)
    two = [i for i, r in enumerate(ds.rows) if len(r.entries["part"]) == 2]
    assert two, "the generated set has two-plane part cells"
    i = two[0]
    planes = ds[i].planes
    n_color, n_object = len(ds.rows[i].entries["color"]), len(ds.rows[i].entries["object"])
    part = planes[n_color + n_object : n_color + n_object + 2]
    assert set(part[0].unique().tolist()) - {0} and set(part[1].unique().tolist()) - {0}
    assert ((part[0] > 0) & (part[1] > 0)).any()  # the two part planes overlap
    multi = [i for i, r in enumerate(ds.rows) if r.entries["texture"][:2] == ("12", "11")]
    assert multi
    planes = ds[multi[0]].planes
    scene, tex1, tex2 = planes[-len(ds.rows[multi[0]].entries["texture"]) - 1 :][:3]
    assert scene.unique().numel() == 1 and int(scene[0, 0]) == int(ds.rows[multi[0]].entries["scene"][0])
    assert torch.equal(tex1, torch.full_like(tex1, 12)) and torch.equal(tex2, torch.full_like(tex2, 11))


def test_metadata_round_trips(root):
    ds = BrodenDataset(root)
    cats = [r["name"] for r in _rows(os.path.join(root, "category.csv"))]
    assert ds.categories == cats and "material" not in cats  # fewer than six categories
    for r in _rows(os.path.join(root, "label.csv")):
        label = ds.labels[int(r["number"])]
        assert (label.name, label.frequency, label.coverage) == (r["name"], int(r["frequency"]), float(r["coverage"]))
        assert label.categories == {m[0]: int(m[1]) for m in re.findall(r"(\w+)\((\d+)\)", r["category"])}
        assert ds.label_names[label.number] == r["name"]
        assert label.syns == tuple(filter(None, r["syns"].split(";")))
    assert ds.labels[ds.label_number("grey")].syns == ("gray", "ash")
    assert ds.label_names[4] == "" and ds.num_labels == 301  # gaps in the numbering stay empty
    for cat in cats:
        codes = _rows(os.path.join(root, f"c_{cat}.csv"))
        assert [int(c["code"]) for c in codes] == list(range(1, len(codes) + 1))
        assert ds.category_codes[cat] == {int(c["number"]): (int(c["code"]), float(c["coverage"])) for c in codes}


def test_primary_category_is_the_one_of_largest_coverage(root):
    ds = BrodenDataset(root)
    black = ds.label_number("black", "color")
    cov = {cat: ds.category_codes[cat][black][1] for cat in ("color", "texture")}
    assert ds.labels[black].categories.keys() == {"color", "texture"}
    assert ds.categories[int(ds.primary_category[black])] == max(cov, key=cov.get)
    assert int(ds.primary_category[0]) == -1 and int(ds.primary_category[4]) == -1
    only_color = BrodenDataset(root, categories=["color"])  # texture not selected: black's only category is color
    assert only_color.categories[int(only_color.primary_category[black])] == "color"
    assert int(only_color.primary_category[ds.label_number("square")]) == -1


def test_selected_categories_and_small_index(root):
    ds = BrodenDataset(root, categories=["scene"], index_file="index_sm.csv")
    assert len(ds) == 16
    sample = ds[0]
    assert sample.planes.shape == (1, 32, 32) and sample.planes.unique().numel() == 1
    assert ds.without_planes()[0].planes.shape == (0, 32, 32)


def test_collate_pads_planes_and_the_loader_streams_in_order(root):
    ds = BrodenDataset(root)
    batches = list(ds.loader(batch_size=16))
    assert [b.images.shape[0] for b in batches] == [16, 16, 8]
    assert torch.equal(torch.cat([b.indices for b in batches]), torch.arange(40))
    b = collate_broden([ds[0], ds[1]])
    q = max(ds[0].planes.shape[0], ds[1].planes.shape[0])
    assert b.planes.shape == (2, q, 32, 32)
    assert torch.equal(b.planes[0, : ds[0].planes.shape[0]], ds[0].planes)
    assert (b.planes[0, ds[0].planes.shape[0] :] == 0).all()


def test_image_overrides_replace_images(root, tmp_path):
    ds = BrodenDataset(root)
    over = tmp_path / "over"
    target = over / "images" / (ds.rows[2].image + ".pt")
    target.parent.mkdir(parents=True)
    replacement = torch.rand(3, 64, 64)
    torch.save(replacement, target)
    red = ds.redirect(str(over))
    assert red.num_overridden == 1 and ds.num_overridden == 0
    assert torch.equal(red[2].image, replacement) and torch.equal(red[2].planes, ds[2].planes)
    assert torch.equal(red[3].image, ds[3].image)


def test_missing_csv_fails_with_a_clear_message(root, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    os.remove(broken / "label.csv")
    message = f"Expected `root` to be a Broden directory containing label.csv, but got {str(broken)!r}"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        BrodenDataset(str(broken))
    message = f"Expected `root` to be an existing Broden directory, but got {str(tmp_path / 'none')!r}"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        BrodenDataset(str(tmp_path / "none"))


def test_unknown_category_fails_with_a_clear_message(root):
    message = (
        "Expected `categories` to be a non-empty subset of ['color', 'object', 'part', 'scene', 'texture'], "
        "but got ['material']"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        BrodenDataset(root, categories=["material"])
