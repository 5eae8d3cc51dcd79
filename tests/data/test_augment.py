import math

import numpy as np
import pytest
import torch

from robattr.data.augment import rar_augment, rar_distortion, warp_images


def _apply(matrix: np.ndarray, x: float, y: float) -> tuple[float, float]:
    u, v, w = matrix @ np.array([x, y, 1.0])
    return u / w, v / w


def test_draw_order_and_corners_follow_rar() -> None:
    """With no rotation or translation, the image corners land on RAR's perturbed corners (generate_data.py)."""
    matrix = rar_distortion(128, 128, np.random.RandomState(7), max_angle=0.0, max_translate=0.0)
    rng = np.random.RandomState(7)
    rng.uniform(-0.0, 0.0), rng.uniform(), rng.uniform()  # angle, translate_x, translate_y
    d = 128 * 0.3 * rng.uniform(0, 0.8)
    tl_top, tl_left, bl_bottom, bl_left, tr_top, tr_right, br_bottom, br_right = (rng.uniform(-d, d) for _ in range(8))
    expected = {
        (0, 0): (tl_left, tl_top),
        (0, 127): (bl_left, 127 - bl_bottom),
        (127, 127): (127 - br_right, 127 - br_bottom),
        (127, 0): (127 - tr_right, tr_top),
    }
    for corner, moved in expected.items():
        assert np.allclose(_apply(matrix, *corner), moved)


def test_rotation_about_the_centre_counter_clockwise() -> None:
    matrix = rar_distortion(65, 65, np.random.RandomState(3), max_translate=0.0, max_warp=0.0)
    angle = math.radians(np.random.RandomState(3).uniform(-15, 15))
    assert np.allclose(_apply(matrix, 32, 32), (32, 32))
    # a point right of the centre moves up (y decreases) for a positive angle
    assert np.allclose(_apply(matrix, 42, 32), (32 + 10 * math.cos(angle), 32 - 10 * math.sin(angle)))


def test_translation_bound_scales_with_size() -> None:
    for seed in range(20):
        matrix = rar_distortion(64, 64, np.random.RandomState(seed), max_angle=0.0, max_warp=0.0)
        assert np.allclose(matrix[:2, :2], np.eye(2)) and np.all(np.abs(matrix[:2, 2]) <= 1.25)


def test_identity_leaves_images_unchanged() -> None:
    x = torch.randint(0, 256, (4, 3, 20, 20), dtype=torch.uint8)
    y = rar_augment(x, np.random.RandomState(0), max_angle=0.0, max_translate=0.0, max_warp=0.0)
    assert torch.equal(x, y)


def test_edge_mode_keeps_constant_images_constant() -> None:
    x = torch.full((8, 3, 32, 32), 0.4)
    y = rar_augment(x, np.random.RandomState(1), max_angle=15.0, max_warp=0.8)
    assert y.dtype == torch.float32 and torch.allclose(y, x)  # no black borders


def test_seeded_and_actually_distorting() -> None:
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    a = rar_augment(x, np.random.RandomState(12312))
    b = rar_augment(x, np.random.RandomState(12312))
    c = rar_augment(x, np.random.RandomState(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)


@pytest.mark.parametrize("chunk_size", [1, 3, 256])
def test_chunking_does_not_change_the_result(chunk_size: int) -> None:
    x = torch.rand(5, 2, 9, 11)
    maps = torch.from_numpy(np.stack([rar_distortion(9, 11, np.random.RandomState(i)) for i in range(5)]))
    assert torch.allclose(warp_images(x, maps, chunk_size=chunk_size), warp_images(x, maps))
