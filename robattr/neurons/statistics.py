"""Streaming per-unit statistics of a layer over a probing set: thresholds and top-activating exemplars."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor, nn

from robattr.data.broden import BrodenBatch, BrodenDataset
from robattr.models.utils import eval_mode, to_model
from robattr.neurons.hooks import LayerActivations
from robattr.neurons.phases import track
from robattr.neurons.quantile import StreamingQuantile


class TopExemplars:
    """Streaming top-``k`` images per unit by a per-image score (Network Dissection and MILAN: the spatial max).

    Ties are broken deterministically: score descending, then dataset index ascending. Memory ``K x k``.

    Args:
        k: exemplars kept per unit.

    Example:
        >>> top = TopExemplars(2)
        >>> top.update(torch.tensor([[1.0], [3.0]]), torch.tensor([0, 1]))
        >>> top.update(torch.tensor([[3.0], [2.0]]), torch.tensor([2, 3]))
        >>> top.indices
        tensor([[1, 2]])
    """

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"Expected `k` to be a positive integer, but got {k}")
        self.k = k
        self.values: Tensor | None = None
        self.indices: Tensor | None = None

    def update(self, scores: Tensor, indices: Tensor) -> None:
        """Merge a batch: ``scores`` ``(B, K)`` and the dataset ``indices`` ``(B,)`` of its images."""
        values = scores.detach().float().t().cpu()
        idx = indices.cpu()[None, :].expand_as(values)
        if self.values is not None and self.indices is not None:
            values, idx = torch.cat([self.values, values], 1), torch.cat([self.indices, idx], 1)
        order = torch.argsort(idx, dim=1, stable=True)
        values, idx = values.gather(1, order), idx.gather(1, order)
        order = torch.argsort(values, dim=1, descending=True, stable=True)[:, : self.k]
        self.values, self.indices = values.gather(1, order), idx.gather(1, order)


def activation_batches(
    model: nn.Module,
    layer: str | LayerActivations,
    dataset: BrodenDataset,
    batch_size: int = 64,
    num_workers: int = 0,
    images_only: bool = True,
    progress: bool = False,
    desc: str = "",
) -> Iterator[tuple[Tensor, BrodenBatch]]:
    """Yield ``(activations (B, K, h, w), batch)`` over ``dataset`` in order, on the model's device, without grad."""
    acts_fn = layer if isinstance(layer, LayerActivations) else LayerActivations(model, layer)
    loader = dataset.loader(batch_size, num_workers, images_only=images_only)
    for batch in track(loader, desc or f"{acts_fn.layer}: activations", progress):
        with torch.no_grad():
            acts = acts_fn(to_model(model, batch.images))
        yield acts, batch


class UnitStatistics(NamedTuple):
    """Per-unit ``thresholds`` ``(K,)``, the ``top_values`` ``(K, k)`` and ``top_indices`` ``(K, k)`` exemplars, and
    how many ``passes`` over the data it took.
    """

    thresholds: Tensor
    top_values: Tensor
    top_indices: Tensor
    passes: int


def unit_statistics(
    model: nn.Module,
    layer: str,
    dataset: BrodenDataset,
    quantile: float,
    top_k: int = 8,
    batch_size: int = 64,
    num_workers: int = 0,
    capacity: int = 2048,
    progress: bool = False,
) -> UnitStatistics:
    """Thresholds ``T_k`` (the top-``quantile`` value of each unit over all images and native positions, exact, see
    :mod:`robattr.neurons.quantile`) and the top-``top_k`` images of each unit by spatial max, in bounded memory.

    The probing set is streamed 2 or 3 times (the exemplars are collected during the first pass).

    Example:
        >>> import tempfile
        >>> from robattr.data.broden_synthetic import SyntheticBrodenDataset
        >>> from robattr.models.planted import PlantedUnitCNN
        >>> ds = SyntheticBrodenDataset(tempfile.mkdtemp(), n_images=16)
        >>> stats = unit_statistics(PlantedUnitCNN(), "pool", ds, quantile=0.005, top_k=3)
        >>> tuple(stats.thresholds.shape), tuple(stats.top_indices.shape)
        ((6,), (6, 3))
    """
    acts_fn = LayerActivations(model, layer)
    if len(dataset) == 0:
        raise ValueError(
            f"Expected `dataset` to hold at least one image, but got an empty probing set ({dataset.root!r})"
        )
    sq, top = StreamingQuantile(1.0 - quantile, capacity=capacity), TopExemplars(top_k)
    with eval_mode(model):
        while not sq.done:
            desc = f"{layer}: threshold pass {sq.passes + 1}"
            for acts, batch in activation_batches(
                model, acts_fn, dataset, batch_size, num_workers, True, progress, desc
            ):
                sq.update(acts)
                if sq.passes == 0:
                    top.update(acts.amax(dim=(2, 3)), batch.indices)
            sq.end_pass()
    if top.values is None or top.indices is None:  # cannot happen after a pass over a non-empty set
        raise RuntimeError(f"Expected the first pass over {dataset.root!r} to see every image, but it saw none")
    return UnitStatistics(sq.result, top.values, top.indices, sq.passes)
