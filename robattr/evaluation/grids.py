"""Attack grids a person can read: labelled rows, clean and attacked maps on one colour scale, a colour bar.

:func:`attack_grid` draws, for the first images of a batch, one column per image and the rows ``clean image``,
``attacked image``, ``clean map``, ``attacked map``, then the top-k and top-k-div pixels of each map painted over
the image. The clean and attacked map of a column share one colour scale, from 0 (black) to the larger of their
two maxima (white), written above the column (``max``) and drawn as a colour bar on the right, so a reader can
compare the two maps by eye. Small images (MNIST) are enlarged with nearest-neighbour pixels so labels fit.

Example:
    >>> x = torch.rand(3, 1, 8, 8)
    >>> maps = torch.rand(3, 8, 8)
    >>> mask = maps > 0.5
    >>> grid = attack_grid(x, x, maps, maps, {"top-k": (mask, mask)}, title="ig / topk")
    >>> grid.shape[0], grid.dtype
    (3, torch.float32)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from robattr.attribution.visualize import overlay

PAD = 2
MIN_CELL = 48


def heat(values: Tensor) -> Tensor:
    """Values ``(N, H, W)`` in ``[0, 1]`` to RGB ``(N, 3, H, W)``: black -> red -> yellow -> white."""
    v = values.float().clamp(0, 1)
    return torch.stack([(3 * v).clamp(0, 1), (3 * v - 1).clamp(0, 1), (3 * v - 2).clamp(0, 1)], 1)


def pair_scale(clean: Tensor, attacked: Tensor) -> Tensor:
    """The shared colour-scale maximum ``(N,)`` of each clean / attacked map pair ``(N, H, W)``."""
    peak = torch.maximum(clean.flatten(1).amax(1), attacked.flatten(1).amax(1))
    return torch.nan_to_num(peak, nan=0.0, posinf=0.0).clamp_min(1e-12)


def _font(size: int = 12) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _pil_cells(images: Tensor, factor: int) -> list[Image.Image]:
    rgb = images.detach().float().cpu().clamp(0, 1)
    rgb = rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb
    if factor > 1:
        rgb = rgb.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
    arrays = (rgb.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arrays]


def attack_grid(
    x: Tensor,
    x_adv: Tensor,
    clean_map: Tensor,
    adv_map: Tensor,
    masks: Mapping[str, tuple[Tensor, Tensor]],
    title: str = "",
) -> Tensor:
    """One labelled picture of an attack on ``N`` images; returns ``(3, H', W')`` floats in ``[0, 1]``.

    Args:
        x: clean images ``(N, C, H, W)`` in ``[0, 1]`` (1 or 3 channels).
        x_adv: attacked images, same shape.
        clean_map: clean maps ``(N, H, W)`` (non-negative).
        adv_map: attacked maps, same shape.
        masks: row name -> ``(clean mask, attacked mask)`` bool ``(N, H, W)``; each becomes two rows, the pixels
            painted over the clean / attacked image (e.g. ``{"top-k": ..., "top-k-div": ...}``).
        title: first line of the picture.
    """
    n, _, h, w = x.shape
    factor = max(1, math.ceil(MIN_CELL / max(h, 1)))
    ch, cw = h * factor, w * factor
    scale = pair_scale(clean_map.detach().float(), adv_map.detach().float()).cpu()
    colours = [(0.85, 0.1, 0.1), (0.1, 0.75, 0.1), (0.15, 0.35, 0.95)]
    rows: list[tuple[str, Tensor]] = [
        ("clean image", x),
        ("attacked image", x_adv),
        ("clean map", heat(clean_map.detach().cpu().float() / scale.view(-1, 1, 1))),
        ("attacked map", heat(adv_map.detach().cpu().float() / scale.view(-1, 1, 1))),
    ]
    for i, (name, (clean_mask, adv_mask)) in enumerate(masks.items()):
        colour = colours[i % len(colours)]
        rows.append((f"{name}, clean", overlay(x.detach().cpu().float(), clean_mask.cpu().bool(), colour)))
        rows.append((f"{name}, attacked", overlay(x_adv.detach().cpu().float(), adv_mask.cpu().bool(), colour)))
    font, small = _font(12), _font(10)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_width(text: str, f: ImageFont.ImageFont) -> int:
        box = probe.textbbox((0, 0), text, font=f)
        return box[2] - box[0]

    label_w = max(text_width(name, font) for name, _ in rows) + 10
    bar_w, bar_text_w = 12, max(text_width("max", small), text_width("0", small)) + 6
    line_h, scale_h = 16, 14
    caption = [
        "clean and attacked map of a column share one colour scale:",
        "0 (black) to the column's max (white), written above it",
    ]
    grid_w = label_w + n * (cw + PAD) + PAD + bar_w + bar_text_w + 6
    width = max(grid_w, max(text_width(t, small) for t in [title, *caption]) + 10)
    top = line_h + 4 if title else 4
    height = top + len(rows) * (ch + PAD) + scale_h + PAD + len(caption) * 13 + 8
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 2), title, fill="black", font=font)
    y = top
    map_top = map_bottom = 0
    for name, images in rows:
        if name == "clean map":  # the scale of each column, above its map pair
            for j in range(n):
                value = f"max {scale[j].item():.3g}"
                xj = label_w + PAD + j * (cw + PAD) + (cw - text_width(value, small)) // 2
                draw.text((xj, y), value, fill="black", font=small)
            y += scale_h
            map_top = y
        draw.text((4, y + (ch - 12) // 2), name, fill="black", font=font)
        for j, cell in enumerate(_pil_cells(images, factor)):
            canvas.paste(cell, (label_w + PAD + j * (cw + PAD), y))
        y += ch + PAD
        if name == "attacked map":
            map_bottom = y - PAD
    # colour bar spanning the two map rows: white (max) at the top, black (0) at the bottom
    bar_x = label_w + PAD + n * (cw + PAD) + 4
    ramp = torch.linspace(1, 0, map_bottom - map_top).view(1, -1, 1).expand(1, -1, bar_w)
    bar = (heat(ramp)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    canvas.paste(Image.fromarray(bar), (bar_x, map_top))
    draw.rectangle((bar_x - 1, map_top - 1, bar_x + bar_w, map_bottom), outline="black")
    draw.text((bar_x + bar_w + 3, map_top - 2), "max", fill="black", font=small)
    draw.text((bar_x + bar_w + 3, map_bottom - 11), "0", fill="black", font=small)
    for i, line in enumerate(caption):
        draw.text((4, y + 2 + i * 13), line, fill="black", font=small)
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float() / 255


__all__ = ["attack_grid", "heat", "pair_scale"]
