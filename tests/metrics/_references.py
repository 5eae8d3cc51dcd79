"""Plain-Python loop references for the top-k / LENS / top-k-div metrics (independent of robattr's tensor code).

Deliberately naive: sets of flat indices, one image at a time, written from the spec's definitions.
"""

from __future__ import annotations

import numpy as np


def ref_order(a: np.ndarray) -> list[int]:
    """Flat indices by value descending, then flat index ascending."""
    flat = a.ravel().tolist()
    return sorted(range(len(flat)), key=lambda i: (-flat[i], i))


def ref_topk(a: np.ndarray, k: int) -> set[int]:
    return set(ref_order(a)[:k])


def ref_window(p: int, h: int, w: int, r: int) -> set[int]:
    """Clean 2-D Chebyshev window of radius r around flat index p, clipped at the border."""
    row, col = divmod(p, w)
    return {
        rr * w + cc
        for rr in range(row - r, row + r + 1)
        for cc in range(col - r, col + r + 1)
        if 0 <= rr < h and 0 <= cc < w
    }


def ref_window_flat(p: int, h: int, w: int, r: int) -> set[int]:
    """The released LENS code's window: flat offsets d_row * W + d_col, keeping indices in (0, H W)."""
    return {p + dr * w + dc for dr in range(-r, r + 1) for dc in range(-r, r + 1) if 0 < p + dr * w + dc < h * w}


def ref_neighbourhood(points: set[int], h: int, w: int, r: int, flat_index: bool = False) -> set[int]:
    window = ref_window_flat if flat_index else ref_window
    out: set[int] = set()
    for p in points:
        out |= window(p, h, w, r)
    return out


def ref_lens_recall(a: np.ndarray, b: np.ndarray, k: int, r: int, flat_index: bool = False) -> float:
    h, w = a.shape
    return len(ref_neighbourhood(ref_topk(a, k), h, w, r, flat_index) & ref_topk(b, k)) / k


def ref_topk_div(a: np.ndarray, k: int, r: int, pool: int | None = None) -> list[int]:
    """Greedy top-k-div (spec 4.4, clean algorithm): walk the order, keep a pixel unless suppressed."""
    h, w = a.shape
    selected: list[int] = []
    suppressed: set[int] = set()
    for p in ref_order(a)[: pool if pool is not None else a.size]:
        if p in suppressed:
            continue
        selected.append(p)
        suppressed |= ref_window(p, h, w, r)
        if len(selected) == k:
            break
    return selected


def ref_lens_recall_div(
    a: np.ndarray, b: np.ndarray, k: int, r: int, pool: int | None = None, flat_index: bool = False
) -> float:
    h, w = a.shape
    f_a, f_b = set(ref_topk_div(a, k, r, pool)), set(ref_topk_div(b, k, r, pool))
    return len(ref_neighbourhood(f_a, h, w, r, flat_index) & f_b) / k


def ref_center_of_mass_shift(a: np.ndarray, b: np.ndarray) -> float:
    def centre(m: np.ndarray) -> np.ndarray:
        h, w = m.shape
        if m.sum() == 0:
            return np.array([(h - 1) / 2, (w - 1) / 2])
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return np.array([(m * rows).sum() / m.sum(), (m * cols).sum() / m.sum()])

    return float(np.linalg.norm(np.trunc(centre(a)) - np.trunc(centre(b))))


def ref_released_topk_div(a: np.ndarray, k: int, r: int, pool: int | None = None) -> set[int]:
    """The released LENS code's ``topkDiv``, transcribed step by step from its description (Kamath et al. 2024).

    The candidate list is the ``pool`` best pixels, best first. Keep its head; drop the head's flat-index window
    (``ref_window_flat``: offsets ``d_row * W + d_col``, indices in ``(0, H W)``, so pixel 0 is never in a window) from
    the list. Then ``k - 1`` times: drop the window of the *current* head and every index outside ``(0, H W)``, and
    keep the new head. At the end, drop every kept index outside ``(0, H W)``. Where the released code indexes an
    empty list (an ``IndexError``), this transcription stops and returns what it has kept.
    """
    h, w = a.shape
    d = h * w
    candidates = ref_order(a)[: pool if pool is not None else d]
    kept = [candidates[0]]
    window = ref_window_flat(candidates[0], h, w, r)
    candidates = [p for p in candidates if p not in window]
    for _ in range(k - 1):
        if not candidates:
            break  # the released code: IndexError
        window = ref_window_flat(candidates[0], h, w, r)
        candidates = [p for p in candidates if p not in window and 0 < p < d]
        if not candidates:
            break  # the released code: IndexError
        kept.append(candidates[0])
    return {p for p in kept if 0 < p < d}
