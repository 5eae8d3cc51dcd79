"""The generated set and the planted CNN behave as specified (spec 7.2 - 7.3)."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.data.broden_synthetic import SyntheticBrodenDataset, write_synthetic_broden
from robattr.models import PlantedUnitCNN


def test_fragile_unit_ignores_flat_colours_and_grid_edges_but_not_a_checkerboard():
    net = PlantedUnitCNN()
    x = torch.full((1, 3, 16, 16), 0.4)
    x[..., 4:10, 2:12] = torch.tensor([0.85, 0.12, 0.12])[:, None, None]  # a red bar on the 2-pixel grid
    with torch.no_grad():
        clean = net.features(x)
        torch.testing.assert_close(clean[:, 1], clean[:, 0])  # the fragile unit is the red unit on clean data
        sign = 1.0 - (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0  # +1 on the even-even pixels
        eps = 4 / 255
        shifted = net.features(x + eps * sign) - clean
    assert shifted[:, 1].abs().max() > 100 * eps  # about 12 * gain * eps before the activation
    assert shifted[:, 0].abs().max() < 1e-5  # the robust unit averages the pattern away


def test_generator_is_deterministic_and_refuses_other_parameters(tmp_path):
    a = write_synthetic_broden(str(tmp_path / "a"), n_images=6, seed=5)
    b = write_synthetic_broden(str(tmp_path / "b"), n_images=6, seed=5)
    assert (tmp_path / "a" / "index.csv").read_text().replace(a, "") == (
        tmp_path / "b" / "index.csv"
    ).read_text().replace(b, "")
    ds = SyntheticBrodenDataset(a, n_images=6, seed=5)
    assert torch.equal(ds[3].image, SyntheticBrodenDataset(b, n_images=6, seed=5)[3].image)
    spec = "'image_size': 64, 'mask_size': 32, 'rare_probability': 0.025}"
    message = (
        f"Expected `root` to hold a set generated with {{'n_images': 6, 'seed': 6, {spec}, but got {a!r} generated "
        f"with {{'n_images': 6, 'seed': 5, {spec}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        SyntheticBrodenDataset(a, n_images=6, seed=6)


def test_source_and_target_concepts_are_rare(probing_set):
    red, green = probing_set.label_number("red"), probing_set.label_number("green")
    counts = torch.zeros(3)
    for i in range(len(probing_set)):
        labels = set(probing_set.load_planes(i).unique().tolist())
        counts += torch.tensor([red in labels, green in labels, red in labels or green in labels], dtype=torch.float)
    fractions = counts / len(probing_set)
    assert 0.01 < fractions[0] < 0.06 and 0.01 < fractions[1] < 0.06 and fractions[2] < 0.10


def test_bad_generator_arguments():
    with pytest.raises(
        ValueError, match=re.escape("Expected `image_size` to be a multiple of `mask_size` >= 16, but got 64 and 24")
    ):
        write_synthetic_broden("/nonexistent", mask_size=24)
    with pytest.raises(ValueError, match=re.escape("Expected `gain` to be a non-negative float, but got -1")):
        PlantedUnitCNN(gain=-1)
