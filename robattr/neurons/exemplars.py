"""MILAN's exemplars (Hernandez et al., ICLR 2022): each unit's top-k images and their activation masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.data.broden import BrodenDataset
from robattr.models.utils import eval_mode, to_model
from robattr.neurons.hooks import LayerActivations
from robattr.neurons.phases import track
from robattr.neurons.statistics import unit_statistics


@dataclass
class Exemplars:
    """Top-``k`` exemplars per unit: dataset ``indices`` / spatial-max ``values`` ``(K, k)`` (descending, ties by
    index), the mask ``thresholds`` ``(K,)`` and, for the units asked for, ``masks[unit]`` ``(k, H, W)`` bool at image
    resolution.
    """

    layer: str
    quantile: float
    thresholds: Tensor
    indices: Tensor
    values: Tensor
    masks: dict[int, Tensor] = field(default_factory=dict)

    @property
    def num_units(self) -> int:
        """``K``."""
        return int(self.thresholds.numel())

    def unit_masks(self, unit: int) -> Tensor:
        """The ``(k, H, W)`` exemplar masks of ``unit``.

        Raises:
            ValueError: if the masks of that unit were not computed.
        """
        if unit not in self.masks:
            raise ValueError(
                f"Expected `unit` to be one of the units with exemplar masks {sorted(self.masks)}, but got {unit}"
            )
        return self.masks[unit]


def exemplar_masks(
    model: nn.Module,
    layer: str,
    dataset: BrodenDataset,
    indices: Tensor,
    units: Sequence[int],
    thresholds: Tensor,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[int, Tensor]:
    """``{unit: (k, H, W) bool}``: activation of ``unit`` on its exemplars ``indices[unit]``, resized bilinearly to the
    image size, ``> thresholds[unit]``.
    """
    acts_fn = LayerActivations(model, layer)
    wanted = sorted({i for u in units for i in indices[u].tolist()})
    position = {index: p for p, index in enumerate(wanted)}
    maps: list[Tensor] = []
    with eval_mode(model), torch.no_grad():
        for start in track(range(0, len(wanted), batch_size), f"{layer}: exemplar masks", progress):
            images = torch.stack([dataset.load_image(i) for i in wanted[start : start + batch_size]])
            acts = acts_fn(to_model(model, images)).float()
            maps.append(acts[:, list(units)].cpu())
    if not maps:
        return {}
    size = tuple(dataset.load_image(wanted[0]).shape[-2:])
    all_maps = torch.cat(maps)  # (n, len(units), h, w)
    out = {}
    for j, unit in enumerate(units):
        rows = torch.tensor([position[i] for i in indices[unit].tolist()], dtype=torch.long)
        up = F.interpolate(all_maps[rows, j][:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        out[int(unit)] = up > thresholds[unit].cpu()
    return out


def compute_exemplars(
    model: nn.Module,
    layer: str,
    dataset: BrodenDataset,
    k: int = 15,
    quantile: float = 0.01,
    units: Sequence[int] | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
) -> Exemplars:
    """MILAN's Steps 1-2: rank images by the unit's spatial max and keep the top ``k``; the mask of an exemplar is its
    activation map resized to the image size (bilinear) above the unit's top-``quantile`` level over all activations
    (0.99 quantile in MILAN, exact here: :mod:`robattr.neurons.quantile`).

    Args:
        model: the network (normalisation inside, inputs in ``[0, 1]``).
        layer: name of the probed module in ``model.named_modules()``.
        dataset: the probing set.
        k: exemplars per unit (15 in MILAN).
        quantile: top fraction for the mask level (0.01).
        units: units whose masks are computed (``None``: all; ``K x k x H x W`` booleans).
        batch_size: images per batch.
        num_workers: DataLoader workers.
        progress: tqdm bars (else a summary line per pass).

    Example:
        >>> import tempfile
        >>> from robattr.data.broden_synthetic import SyntheticBrodenDataset
        >>> from robattr.models.planted import PlantedUnitCNN
        >>> ds = SyntheticBrodenDataset(tempfile.mkdtemp(), n_images=12)
        >>> ex = compute_exemplars(PlantedUnitCNN(), "pool", ds, k=3, units=[1])
        >>> tuple(ex.indices.shape), tuple(ex.unit_masks(1).shape)
        ((6, 3), (3, 64, 64))
    """
    if k < 1:
        raise ValueError(f"Expected `k` to be a positive integer, but got {k}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"Expected `quantile` to be a float in (0, 1), but got {quantile}")
    stats = unit_statistics(
        model, layer, dataset, quantile, top_k=k, batch_size=batch_size, num_workers=num_workers, progress=progress
    )
    units = list(range(stats.thresholds.numel())) if units is None else [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < stats.thresholds.numel()]
    if bad:
        raise ValueError(f"Expected `units` to be in [0, {stats.thresholds.numel() - 1}], but got {bad}")
    masks = exemplar_masks(model, layer, dataset, stats.top_indices, units, stats.thresholds, batch_size, progress)
    return Exemplars(layer, quantile, stats.thresholds, stats.top_indices, stats.top_values, masks)
