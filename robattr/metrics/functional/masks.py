"""Top-k and neighbourhood masks of 2-D attribution maps, shared by the top-k, LENS and top-k-div metrics.

Both are exported so that attacks (the top-k attack, the LENS-aware top-k attack of Kamath et al.) select exactly the
pixels the metrics score.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.metrics.functional._checks import _check_flag, _check_k, _check_map_batch, _check_radius


def _rankable(maps: Tensor) -> Tensor:
    """``maps`` with NaN as ``-inf`` (floating maps only).

    NaN pixels then rank below every number, so a top-k set never loses members to a NaN (every comparison with NaN
    is false).
    """
    if not maps.is_floating_point():
        return maps
    return torch.nan_to_num(maps, nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))


def topk_mask(maps: Tensor, k: int, validate_args: bool = True) -> Tensor:
    """Boolean mask of the ``k`` largest entries of each map, ``T_k(a)``.

    Ties are broken deterministically: by value descending, then by flat (row-major) index ascending. So where many
    pixels tie at the ``k``-th value (the zeros of an MNIST IG map), the lowest flat indices enter the set. This is
    the order of a stable sort on ``-value`` (and of ``tf.nn.top_k``, unlike the reference code's ``np.argsort``).
    Cost: one ``torch.topk`` for the ``k``-th value, then ``O(H W)`` comparisons and a cumulative sum. With
    ``validate_args=False`` a NaN pixel ranks below every number (``-inf`` included), so the mask still holds ``k``
    pixels.

    Args:
        maps: attribution maps ``(N, H, W)``.
        k: number of pixels per map, an integer in ``[1, H * W - 1]``.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        A bool tensor ``(N, H, W)`` with exactly ``k`` ``True`` entries per map.

    Raises:
        ValueError: if ``maps`` is not 3-D or holds NaN / infinite values, or ``k`` is out of range.
        TypeError: if ``maps`` is not a tensor or ``k`` not an integer.

    Example:
        >>> import torch
        >>> topk_mask(torch.tensor([[[0.0, 2.0], [1.0, 1.0]]]), k=2)
        tensor([[[False,  True],
                 [ True, False]]])
    """
    if validate_args:
        _check_map_batch(maps)
        _check_k(k, maps.shape[-2] * maps.shape[-1])
    flat = maps.flatten(1)
    kth = flat.topk(k, dim=1, sorted=False).values.amin(1, keepdim=True)
    if flat.is_floating_point() and bool(kth.isnan().any()):  # topk ranks NaN first: rank it last instead
        flat = _rankable(flat)
        kth = flat.topk(k, dim=1, sorted=False).values.amin(1, keepdim=True)
    above = flat > kth
    tied = flat == kth
    room = k - above.sum(1, keepdim=True)
    mask = above | (tied & (tied.cumsum(1) <= room))
    return mask.view_as(maps)


def neighbourhood_mask(mask: Tensor, radius: int = 1, flat_index: bool = False, validate_args: bool = True) -> Tensor:
    """Dilate a set of pixels by the square Chebyshev neighbourhood, ``N_r(S) = {q : max|q - p| <= r, p in S}``.

    Default (clean 2-D mode, Kamath et al.'s intent): the ``(2r + 1) x (2r + 1)`` window around each pixel of ``S``,
    clipped at the image border, computed as a separable binary dilation (``O(H W log r)`` shifted maxima).

    ``flat_index=True`` reproduces the released LENS code (its ``addwindowList``; see ``docs/metrics.md``): offsets
    ``d_row * W + d_col`` applied to flat indices, so a window at column 0 or ``W - 1`` wraps to the neighbouring
    row, and every index outside ``(0, H W)`` is dropped, so **pixel 0 is never in the neighbourhood** (even with
    ``radius=0``). Use it only to agree with numbers produced by that code.

    Args:
        mask: boolean pixel sets ``(N, H, W)``.
        radius: Chebyshev radius ``r >= 0`` (``r = 1`` is the 3x3 window the paper calls 1-LENS).
        flat_index: use the reference code's flat-index windows instead of 2-D windows.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        A bool tensor ``(N, H, W)``.

    Raises:
        ValueError: if ``mask`` is not 3-D or ``radius`` is negative.
        TypeError: if ``radius`` is not an integer or ``flat_index`` not a bool.

    Example:
        >>> import torch
        >>> s = torch.zeros(1, 3, 4, dtype=torch.bool)
        >>> s[0, 1, 0] = True
        >>> neighbourhood_mask(s, radius=1).int()
        tensor([[[1, 1, 0, 0],
                 [1, 1, 0, 0],
                 [1, 1, 0, 0]]], dtype=torch.int32)
        >>> neighbourhood_mask(s, radius=1, flat_index=True).int()
        tensor([[[0, 1, 0, 1],
                 [1, 1, 0, 1],
                 [1, 1, 0, 0]]], dtype=torch.int32)
    """
    if validate_args:
        _check_map_batch(mask, "mask", finite=False)
        _check_radius(radius)
        _check_flag(flat_index, "flat_index")
    if flat_index:
        return _flat_index_dilation(mask, radius)
    return _window_max(_window_max(mask.bool(), radius, -1), radius, -2)


def _window_max(x: Tensor, radius: int, dim: int, step: int = 1, fill: float = 0) -> Tensor:
    """Maximum of ``x`` over the offsets ``{-r, ..., r} * step`` along ``dim``, entries outside counting as ``fill``.

    ``fill`` must be at most ``x.min()`` (0 for bool masks and non-negative keys, ``-inf`` for any float map): this
    is a 1-D max filter clipped at the border. Computed by ``2r`` in-place shifted maxima for ``r <= 3``, else by
    doubling the window (``O(log r)`` shifted ``torch.maximum`` passes); both are much faster than ``max_pool`` on CPU
    and work for bool and integer dtypes.
    """
    if radius == 0:
        return x
    size, n = 2 * radius + 1, x.shape[dim]
    if radius <= 3 and radius * step < n:  # small windows: 2r in-place shifted maxima, no padding
        y = x.clone()
        for shift in range(step, radius * step + 1, step):
            head, tail = y.narrow(dim, shift, n - shift), y.narrow(dim, 0, n - shift)
            torch.maximum(head, x.narrow(dim, 0, n - shift), out=head)
            torch.maximum(tail, x.narrow(dim, shift, n - shift), out=tail)
        return y
    pad_shape = list(x.shape)
    pad_shape[dim] = radius * step
    pad = x.new_full(pad_shape, fill)
    y = torch.cat([pad, x, pad], dim)
    width = 1  # y[i] is now the maximum over the padded positions i, i + step, ..., i + (width - 1) * step
    while 2 * width <= size:
        length = y.shape[dim] - width * step
        y = torch.maximum(y.narrow(dim, 0, length), y.narrow(dim, width * step, length))
        width *= 2
    return torch.maximum(y.narrow(dim, 0, n), y.narrow(dim, (size - width) * step, n))


def _flat_window_max(x: Tensor, radius: int, width: int) -> Tensor:
    """Per flat index ``p`` of ``x`` ``(N, D)``, the maximum over the released code's window ``p + dr * width + dc``
    (``|dr|, |dc| <= radius``) restricted to ``[0, D)``; ``x`` must be non-negative (bool masks or integer keys).

    The offsets factor into a column pass (offsets ``-r..r``) and a row pass (offsets ``-rW..rW`` step ``W``); the
    column pass runs on a copy padded by ``r`` on both sides so that intermediate positions just outside ``[0, D)``
    are kept, exactly as the reference code only filters the final indices.
    """
    n, d = x.shape
    pad = x.new_zeros(n, radius)
    y = _window_max(_window_max(torch.cat([pad, x, pad], 1), radius, 1), radius, 1, step=width)
    return y[:, radius : radius + d]


def _flat_index_dilation(mask: Tensor, radius: int) -> Tensor:
    """The reference code's window: flat offsets ``d_row * W + d_col``, keeping only indices in ``(0, H W)``."""
    n, h, w = mask.shape
    out = _flat_window_max(mask.reshape(n, h * w).bool(), radius, w).clone()
    out[:, 0] = False
    return out.view(n, h, w)


def _max_filter(maps: Tensor, radius: int) -> Tensor:
    """The ``(2r + 1)^2`` max filter of each map ``(N, H, W)``, clipped at the border."""
    fill = float("-inf") if maps.is_floating_point() else torch.iinfo(maps.dtype).min
    return _window_max(_window_max(maps, radius, -1, fill=fill), radius, -2, fill=fill)


def degenerate_maps(maps: Tensor, validate_args: bool = True) -> Tensor:
    """Which maps cannot be scored: any NaN or infinite value, or a constant map (all-zero ones included).

    On a constant map every pixel ties, so its top-k, LENS and top-k-div sets are decided by the flat-index order
    alone (the first ``k`` pixels): two unrelated all-zero maps (the IG maps of a model whose logits are NaN, or of
    an image equal to the baseline) would score a perfect 1.0, and rank correlations are undefined (NaN). Count
    these maps and leave them out (``valid=~degenerate_maps(maps)``) instead of scoring them.

    Args:
        maps: attribution maps ``(N, H, W)``, any values.
        validate_args: check the arguments (set ``False`` to skip the checks).

    Returns:
        A bool tensor ``(N,)``, ``True`` for a degenerate map.

    Raises:
        TypeError: if ``maps`` is not a tensor.
        ValueError: if ``maps`` is not 3-D.

    Example:
        >>> import torch
        >>> maps = torch.tensor([[[1.0, 2.0]], [[0.0, 0.0]], [[3.0, float("nan")]], [[5.0, 5.0]]])
        >>> degenerate_maps(maps)
        tensor([False,  True,  True,  True])
    """
    if validate_args:
        _check_map_batch(maps, finite=False)
    flat = maps.flatten(1)
    if flat.shape[1] == 0:
        return torch.ones(flat.shape[0], dtype=torch.bool, device=maps.device)
    non_finite = (
        ~torch.isfinite(flat).all(1) if flat.is_floating_point() else torch.zeros_like(flat[:, 0], dtype=torch.bool)
    )
    constant = flat.amax(1) == flat.amin(1)
    return non_finite | constant
