"""RAR's offline Flower augmentation (rotation, translation, projective warp), batched and seeded."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the four points ``src`` (4, 2) to ``dst`` (4, 2)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y])
        rhs.extend([u, v])
    h = np.linalg.solve(np.asarray(rows), np.asarray(rhs))
    return np.append(h, 1.0).reshape(3, 3)


def rar_distortion(
    height: int,
    width: int,
    rng: np.random.RandomState,
    max_angle: float = 15.0,
    max_translate: float | None = None,
    max_warp: float = 0.8,
) -> np.ndarray:
    """Draw one RAR distortion and return its forward map (input pixel -> output pixel) as a 3x3 homography.

    The distortion of RAR's ``Flower/generate_data.py`` (Chen et al., NeurIPS 2019), drawn from ``rng`` in the same
    order as there: a rotation about the centre by ``U(-max_angle, max_angle)`` degrees (counter-clockwise); a
    translation by ``U(-t, t)`` pixels in x then y, ``t = max_translate`` (default ``2.5 * height / 128``, i.e.
    RAR's ±2.5 px at 128 px); then a projective warp moving each corner of the image by ``U(-d, d)`` in x and y, with
    ``d = 0.3 * height * U(0, max_warp)`` drawn first. Coordinates are pixel centres, ``0 .. width - 1``.

    Example:
        >>> import numpy as np
        >>> rar_distortion(128, 128, np.random.RandomState(0)).shape
        (3, 3)
        >>> rar_distortion(128, 128, np.random.RandomState(0), max_angle=0.0, max_translate=0.0, max_warp=0.0)
        array([[1., 0., 0.],
               [0., 1., 0.],
               [0., 0., 1.]])
    """
    t = 2.5 * height / 128 if max_translate is None else max_translate
    angle = math.radians(rng.uniform(-max_angle, max_angle))
    tx = 2 * t * rng.uniform() - t
    ty = 2 * t * rng.uniform() - t
    d = height * 0.3 * rng.uniform(0, max_warp)
    tl_top, tl_left, bl_bottom, bl_left, tr_top, tr_right, br_bottom, br_right = (rng.uniform(-d, d) for _ in range(8))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    # y points down, so [[cos, sin], [-sin, cos]] turns the image counter-clockwise on screen, like skimage's rotate.
    rotate = np.array([[cos, sin, cx - cos * cx - sin * cy], [-sin, cos, cy + sin * cx - cos * cy], [0.0, 0.0, 1.0]])
    translate = np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])
    w, h = width - 1, height - 1
    corners = np.array([[0.0, 0.0], [0.0, h], [w, h], [w, 0.0]])
    moved = np.array(
        [[tl_left, tl_top], [bl_left, h - bl_bottom], [w - br_right, h - br_bottom], [w - tr_right, tr_top]]
    )
    return _homography(corners, moved) @ translate @ rotate


def warp_images(images: Tensor, forward_maps: Tensor, chunk_size: int = 256) -> Tensor:
    """Warp a batch of images by per-image homographies, bilinear, replicating the border pixels ("edge" mode).

    Args:
        images: ``(N, C, H, W)`` uint8 (0..255) or float.
        forward_maps: ``(N, 3, 3)`` maps from input to output pixel coordinates (pixel centres).
        chunk_size: images per ``grid_sample`` call.

    Returns:
        ``(N, C, H, W)`` in the dtype of ``images`` (uint8 results are rounded).

    Example:
        >>> import torch
        >>> x = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
        >>> shift = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
        >>> warp_images(x, shift)[0, 0]
        tensor([[ 0,  0,  1,  2],
                [ 4,  4,  5,  6],
                [ 8,  8,  9, 10],
                [12, 12, 13, 14]], dtype=torch.uint8)
    """
    n, _, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    pixels = torch.stack([xs.flatten(), ys.flatten(), torch.ones(height * width, dtype=torch.float64)], dim=1)
    inverse = torch.linalg.inv(forward_maps.to(torch.float64))
    out = torch.empty_like(images)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        source = pixels @ inverse[start:stop].transpose(1, 2)
        source = source[..., :2] / source[..., 2:]
        scale = torch.tensor([max(width - 1, 1), max(height - 1, 1)], dtype=torch.float64)
        grid = (2 * source / scale - 1).reshape(stop - start, height, width, 2).to(torch.float32)
        chunk = images[start:stop].to(torch.float32)
        warped = F.grid_sample(chunk, grid, mode="bilinear", padding_mode="border", align_corners=True)
        if images.dtype == torch.uint8:
            warped = warped.round().clamp(0, 255)
        out[start:stop] = warped.to(images.dtype)
    return out


def rar_augment(
    images: Tensor,
    rng: np.random.RandomState,
    max_angle: float = 15.0,
    max_translate: float | None = None,
    max_warp: float = 0.8,
) -> Tensor:
    """Apply one fresh :func:`rar_distortion` to each image (drawn in order from ``rng``), in one resampling.

    RAR applied the rotation (skimage, edge mode), the translation (OpenCV, black border) and the warp (skimage,
    edge mode) one after another, interpolating three times. Here the three maps are composed into one homography
    and applied once with bilinear interpolation and edge replication: less blur, no black strips, the same
    distribution of geometric distortions, and the whole batch in a few ``grid_sample`` calls.

    Args:
        images: ``(N, C, H, W)`` uint8 or float.
        rng: a numpy ``RandomState`` (RAR seeds its global state with 12312).
        max_angle: rotation bound in degrees.
        max_translate: translation bound in pixels (default ``2.5 * H / 128``).
        max_warp: the corner offsets are bounded by ``0.3 * H * U(0, max_warp)``.

    Example:
        >>> import numpy as np, torch
        >>> x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
        >>> y = rar_augment(x, np.random.RandomState(12312))
        >>> y.shape, y.dtype
        (torch.Size([3, 3, 32, 32]), torch.uint8)
    """
    height, width = images.shape[-2:]
    maps = [rar_distortion(height, width, rng, max_angle, max_translate, max_warp) for _ in range(images.shape[0])]
    forward = torch.from_numpy(np.stack(maps)) if maps else torch.empty(0, 3, 3, dtype=torch.float64)
    return warp_images(images, forward)
