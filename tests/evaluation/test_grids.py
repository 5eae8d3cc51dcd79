"""Attack grids: clean and attacked maps of a column on one colour scale (the shared maximum), the colour map."""

from __future__ import annotations

import torch

from robattr.evaluation.grids import attack_grid, heat, pair_scale


def test_colour_map_ends():
    ends = heat(torch.tensor([[[0.0, 1.0]]]))[0]
    assert ends[:, 0, 0].tolist() == [0.0, 0.0, 0.0] and ends[:, 0, 1].tolist() == [1.0, 1.0, 1.0]


def test_pair_scale_is_the_larger_maximum():
    clean, attacked = torch.tensor([[[1.0, 4.0]], [[0.0, 0.0]]]), torch.tensor([[[2.0, 3.0]], [[0.0, 5.0]]])
    assert pair_scale(clean, attacked).tolist() == [4.0, 5.0]


def count(picture: torch.Tensor, colour: torch.Tensor) -> int:
    rgb = (picture * 255).round()
    return int((rgb == (colour * 255).round().view(3, 1, 1)).all(0).sum())


def test_clean_and_attacked_maps_share_one_scale():
    """Clean maps at half their pair's maximum, attacked maps at a quarter: both colours appear as whole cells. Maps
    scaled to their own maximum would draw the uniform attacked map white instead."""
    n, h = 3, 8
    clean = torch.full((n, h, h), 2.0)
    clean[:, 0, 0] = 4.0
    attacked = torch.full((n, h, h), 1.0)
    x = torch.zeros(n, 1, h, h)
    masks = {"top-k": (clean > 3, attacked > 3)}
    picture = attack_grid(x, x, clean, attacked, masks, title="shared scale")
    factor = 6  # 8-pixel images are enlarged to 48
    cell = (h * factor) ** 2
    assert count(picture, heat(torch.tensor([[[0.25]]]))[0, :, 0, 0]) >= n * cell
    assert count(picture, heat(torch.tensor([[[0.5]]]))[0, :, 0, 0]) >= n * (cell - factor**2)
