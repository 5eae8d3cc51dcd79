"""Attribution maps as pictures: a small colormap and an image grid, without matplotlib."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Colormap = Literal["reds", "coolwarm"]
# Anchor colours (RGB in [0, 1]) sampled from matplotlib's "Reds" and "coolwarm" at 0, 0.5 and 1.
_ANCHORS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "reds": ((1.0, 0.961, 0.941), (0.984, 0.416, 0.290), (0.404, 0.0, 0.051)),
    "coolwarm": ((0.230, 0.299, 0.754), (0.865, 0.865, 0.865), (0.706, 0.016, 0.150)),
}


def colorize(values: Tensor, cmap: Colormap = "reds") -> Tensor:
    """Map values ``(N, H, W)`` in ``[0, 1]`` to RGB images ``(N, 3, H, W)`` by piecewise-linear interpolation.

    Example:
        >>> colorize(torch.tensor([[[0.0, 1.0]]])).shape
        torch.Size([1, 3, 1, 2])
    """
    if cmap not in _ANCHORS:
        raise ValueError(f"Expected `cmap` to be one of {sorted(_ANCHORS)}, but got {cmap!r}")
    anchors = torch.tensor(_ANCHORS[cmap], device=values.device, dtype=torch.float32)
    pos = values.float().clamp(0, 1) * (len(anchors) - 1)
    low = pos.floor().long().clamp(max=len(anchors) - 2)
    frac = (pos - low).unsqueeze(1)
    rgb = anchors[low].permute(0, 3, 1, 2) * (1 - frac) + anchors[low + 1].permute(0, 3, 1, 2) * frac
    return rgb


def scale_map(maps: Tensor, signed: bool = False, percentile: float = 0.99) -> Tensor:
    """Per-image display scaling of maps ``(N, H, W)`` to ``[0, 1]`` (the re-calibration code's PNGs).

    Unsigned: ``(m - min) / (p - min)`` clipped, with ``p`` the ``percentile`` of the map. Signed:
    ``(m + s) / (2 s)`` clipped, with ``s`` the ``percentile`` of ``|m|``, so 0 is the middle of the colormap.

    Example:
        >>> scale_map(torch.tensor([[[0.0, 1.0, 2.0]]]), percentile=1.0)
        tensor([[[0.0000, 0.5000, 1.0000]]])
    """
    flat = maps.detach().float().flatten(1)
    shape = (-1, 1, 1)
    if signed:
        span = torch.quantile(flat.abs(), percentile, dim=1).clamp_min(1e-12).view(shape)
        return ((maps + span) / (2 * span)).clamp(0, 1)
    low = flat.amin(1).view(shape)
    high = torch.quantile(flat, percentile, dim=1).view(shape)
    return ((maps - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)


def attribution_cells(images: Tensor, maps: dict[str, Tensor], signed: bool = False) -> Tensor:
    """The cells of :func:`attribution_grid`, row-major: ``(N * (1 + M), 3, H, W)`` for ``M`` methods.

    Example:
        >>> attribution_cells(torch.rand(2, 1, 8, 8), {"a": torch.rand(2, 8, 8)}).shape
        torch.Size([4, 3, 8, 8])
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"Expected `images` of shape (N, 1 or 3, H, W), but got {tuple(images.shape)}")
    cells = [images.detach().float().expand(-1, 3, -1, -1).cpu()]
    for name, m in maps.items():
        if m.shape != (images.shape[0],) + tuple(images.shape[2:]):
            raise ValueError(
                f"Expected map {name!r} of shape {(images.shape[0],) + tuple(images.shape[2:])}, but got"
                f" {tuple(m.shape)}"
            )
        cells.append(colorize(scale_map(m.detach().cpu(), signed), "coolwarm" if signed else "reds"))
    return torch.stack(cells, dim=1).flatten(0, 1)


def attribution_grid(images: Tensor, maps: dict[str, Tensor], signed: bool = False, padding: int = 2) -> Tensor:
    """One row per image: the image, then each method's map in the order of ``maps``; returns ``(3, H', W')``.

    Args:
        images: inputs ``(N, C, H, W)`` in ``[0, 1]`` (1 or 3 channels).
        maps: name -> 2-D maps ``(N, H, W)`` (e.g. :func:`~robattr.attribution.attribution_map` of each method).
        signed: draw signed maps with ``coolwarm`` around 0; otherwise ``reds`` from the minimum to the 99th percentile.
        padding: pixels between cells.

    Save it with ``torchvision.utils.save_image(grid, path)`` or log it with ``add_image``.

    Example:
        >>> grid = attribution_grid(torch.rand(2, 1, 8, 8), {"a": torch.rand(2, 8, 8), "b": torch.rand(2, 8, 8)})
        >>> grid.shape
        torch.Size([3, 22, 32])
    """
    from torchvision.utils import make_grid

    return make_grid(attribution_cells(images, maps, signed), nrow=1 + len(maps), padding=padding, pad_value=1.0)


def heatmap(maps: Tensor) -> Tensor:
    """``(N, H, W)`` non-negative maps to ``(N, 3, H, W)`` images: black -> red -> yellow -> white, max-scaled."""
    m = maps / maps.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return torch.stack([(3 * m).clamp(0, 1), (3 * m - 1).clamp(0, 1), (3 * m - 2).clamp(0, 1)], 1)


def overlay(images: Tensor, mask: Tensor, color: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> Tensor:
    """Paint the pixels of a bool ``(N, H, W)`` mask in ``color`` over grey versions of ``(N, C, H, W)`` images."""
    grey = images.mean(1, keepdim=True).expand(-1, 3, -1, -1) * 0.6
    paint = torch.tensor(color, device=images.device, dtype=images.dtype).view(1, 3, 1, 1).expand_as(grey)
    return torch.where(mask.unsqueeze(1), paint, grey)
