"""Exact per-unit quantiles over a stream of activations in memory that does not grow with the stream.

Network Dissection thresholds every unit at the top ``q = 0.005`` quantile of its activations over *all* images and
positions of the probing set (63,305 images x 7 x 7 positions for a ResNet ``layer4`` on Broden). Holding those values
is not an option, and a bounded top-m buffer still grows with the dataset (``q * N * h * w`` values per unit). The
reference used an approximate randomized sketch. Here the quantile is **exact** and the memory is **fixed**, by a
radix selection over the bits of the float32 values, streamed once per pass:

1. Map each float32 to an order-preserving 32-bit integer key (flip the magnitude bits of negatives).
2. Pass 1: histogram the top 12 bits of the keys per unit (``K x 4096`` counts); the cumulative counts locate the
   bucket holding the wanted rank and the rank inside it.
3. Pass 2: for units whose bucket holds at most ``capacity`` values, collect those values (at most ``capacity`` per
   unit) and pick the order statistic: done. Otherwise histogram the next 12 bits of the keys in the bucket.
4. Pass 3 (rare): collect, or histogram the last 8 bits, which determines the key and so the value exactly.

Counts are integers, so the result does not depend on batch size or order; ties (activation plateaus, exact zeros)
are handled exactly because equal values have equal keys. Memory: ``K x 4096`` int64 counts plus at most
``K x capacity`` collected keys, whatever the number of images. ``-0.0`` sorts just below ``+0.0`` (they compare
equal, so thresholds are unaffected).

The quantile is the *lower* order statistic: ``sorted(values)[floor(level * (n - 1))]``, i.e.
``torch.quantile(values, level, interpolation="lower")``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_LEVELS: tuple[tuple[int, int], ...] = ((20, 12), (8, 12), (0, 8))  # (shift, bits) of the key digits, high to low
_SIGN = 1 << 31


def float_keys(x: Tensor) -> Tensor:
    """Order-preserving int64 keys in ``[0, 2**32)`` of float32 values (any shape).

    Example:
        >>> k = float_keys(torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0]))
        >>> bool((k[1:] > k[:-1]).all())
        True
    """
    bits = x.detach().float().contiguous().view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits + _SIGN, _SIGN - 1 - (bits & 0x7FFFFFFF))


def keys_to_floats(keys: Tensor) -> Tensor:
    """Inverse of :func:`float_keys`.

    Example:
        >>> x = torch.tensor([-2.5, 0.0, 1e-3, 7.0])
        >>> bool(torch.equal(keys_to_floats(float_keys(x)), x))
        True
    """
    bits = torch.where(keys >= _SIGN, keys - _SIGN, -1 - keys)
    return bits.to(torch.int32).view(torch.float32)


def order_rank(n: int, level: float) -> int:
    """The 0-based rank ``floor(level * (n - 1))`` of the lower ``level`` quantile among ``n`` values."""
    return int(math.floor(level * (n - 1)))


class StreamingQuantile:
    """Exact per-unit lower quantile of a stream of ``(B, K, ...)`` tensors, by radix selection in 1 to 3 passes.

    Feed every batch of the whole stream to :meth:`update`, call :meth:`end_pass`, and repeat until :attr:`done`;
    then :attr:`result` holds the ``(K,)`` quantiles. Every pass must present the same values (in any batching).

    Args:
        level: the quantile level in ``[0, 1]`` (``1 - q`` for Network Dissection's top ``q``).
        capacity: most values per unit collected in a pass (bounds the memory of the collecting pass).

    Example:
        >>> x = torch.randn(50, 3, 4, 4)
        >>> sq = StreamingQuantile(0.995)
        >>> while not sq.done:
        ...     for batch in x.split(7):
        ...         sq.update(batch)
        ...     sq.end_pass()
        >>> ref = x.transpose(0, 1).reshape(3, -1).quantile(0.995, dim=1, interpolation="lower")
        >>> bool(torch.equal(sq.result, ref))
        True
    """

    def __init__(self, level: float, capacity: int = 2048) -> None:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"Expected `level` to be a float in [0, 1], but got {level}")
        if capacity < 1:
            raise ValueError(f"Expected `capacity` to be a positive integer, but got {capacity}")
        self.level = level
        self.capacity = capacity
        self.passes = 0
        self.num_values = 0
        self._units = -1
        self._hist: Tensor | None = None
        self._collected: list[Tensor] = []
        self._prefix: Tensor | None = None  # (K,) key prefix of the bucket holding the rank, -1 when done
        self._rank: Tensor | None = None  # (K,) rank inside that bucket
        self._collect: Tensor | None = None  # (K,) bool: collect values this pass rather than histogram them
        self._result: Tensor | None = None

    @property
    def done(self) -> bool:
        """Whether every unit's quantile is known."""
        return self._result is not None and self._prefix is not None and bool((self._prefix < 0).all())

    @property
    def result(self) -> Tensor:
        """The ``(K,)`` float32 quantiles (after the last pass)."""
        if not self.done:
            raise RuntimeError("Expected the quantile passes to be finished (`done`), but they are not")
        assert self._result is not None
        return self._result

    def update(self, values: Tensor) -> None:
        """Account for a batch ``(B, K, ...)`` of the current pass."""
        if self.done:
            raise RuntimeError("Expected more passes to be needed, but every quantile is known: read `result`")
        if values.dim() < 2:
            raise ValueError(f"Expected `values` of shape (B, K, ...), but got {tuple(values.shape)}")
        if self.passes == 0 and self._units < 0:
            self._units = values.shape[1]
        if values.shape[1] != self._units:
            raise ValueError(f"Expected `values` with {self._units} units, but got {values.shape[1]}")
        if torch.isnan(values).any():
            raise ValueError("Expected `values` without NaN, but got NaN activations")
        keys = float_keys(values.transpose(0, 1).reshape(self._units, -1))  # (K, M)
        shift, bits = _LEVELS[self.passes]
        units = torch.arange(self._units, device=keys.device)[:, None].expand_as(keys)
        if self.passes == 0:
            self.num_values += keys.shape[1]
            self._add_hist((keys >> shift) & ((1 << bits) - 1), units, bits)
            return
        assert self._prefix is not None and self._collect is not None
        prefix = self._prefix.to(keys.device)
        match = (keys >> (shift + bits)) == prefix[:, None]
        collect = self._collect.to(keys.device)[:, None]
        if (match & collect).any():
            sel = match & collect
            self._collected.append(torch.stack([units[sel], keys[sel]]))
        radix = match & ~collect
        if radix.any():
            self._add_hist(((keys >> shift) & ((1 << bits) - 1))[radix], units[radix], bits)

    def _add_hist(self, buckets: Tensor, units: Tensor, bits: int) -> None:
        nbins = 1 << bits
        counts = torch.bincount((units * nbins + buckets).reshape(-1), minlength=self._units * nbins).view(
            self._units, nbins
        )
        self._hist = counts if self._hist is None else self._hist + counts.to(self._hist.device)

    def end_pass(self) -> None:
        """Close the current pass: locate the buckets, finish the units that can be finished."""
        if self._units < 0 or self.num_values == 0:
            raise ValueError("Expected at least one value per unit in the stream, but got none")
        if self._prefix is None:
            rank = order_rank(self.num_values, self.level)
            self._prefix = torch.zeros(self._units, dtype=torch.long)
            self._rank = torch.full((self._units,), rank, dtype=torch.long)
            self._collect = torch.zeros(self._units, dtype=torch.bool)
            self._result = torch.zeros(self._units, dtype=torch.float32)
        assert self._rank is not None and self._collect is not None and self._result is not None
        shift, bits = _LEVELS[self.passes]
        radix = ((self._prefix >= 0) & ~self._collect).nonzero().flatten()
        if self._collected:
            self._finish_collected()
        if self._hist is not None:
            hist = self._hist.cpu()[radix]
            cum = hist.cumsum(1)
            bucket = torch.searchsorted(cum, self._rank[radix, None], right=True).flatten()
            below = cum.gather(1, bucket[:, None]).flatten() - hist.gather(1, bucket[:, None]).flatten()
            self._rank[radix] -= below
            self._prefix[radix] = (self._prefix[radix] << bits) | bucket
            count = hist.gather(1, bucket[:, None]).flatten()
            if shift == 0:  # the key is complete
                self._result[radix] = keys_to_floats(self._prefix[radix])
                self._prefix[radix] = -1
            else:
                self._collect[radix] = count <= self.capacity
        self._hist = None
        self.passes += 1

    def _finish_collected(self) -> None:
        assert (
            self._prefix is not None
            and self._rank is not None
            and self._result is not None
            and self._collect is not None
        )
        pairs = torch.cat(self._collected, dim=1).cpu()
        self._collected = []
        order = torch.argsort(pairs[0] * (1 << 32) + pairs[1])
        units, keys = pairs[0][order], pairs[1][order]
        counts = torch.bincount(units, minlength=self._units)
        start = counts.cumsum(0) - counts
        done = (self._collect & (self._prefix >= 0)).nonzero().flatten()
        self._result[done] = keys_to_floats(keys[start[done] + self._rank[done]])
        self._prefix[done] = -1
        self._collect[done] = False


def unit_quantile_reference(acts: Tensor, level: float) -> Tensor:
    """The same quantile from all values at once (``(N, K, ...)`` in memory): the reference of the tests.

    Example:
        >>> unit_quantile_reference(torch.arange(10.0).view(10, 1), 0.5)
        tensor([4.])
    """
    flat = acts.transpose(0, 1).reshape(acts.shape[1], -1).float()
    rank = order_rank(flat.shape[1], level)
    return flat.sort(dim=1).values[:, rank]
