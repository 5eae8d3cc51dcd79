"""Comparing explanations before and after a corruption (Srivastava et al., ICCV 2023).

Functions of dissection results and index sets only (they never call a model): the fraction of units whose label
changes (all units, and the units interpretable on clean data, score > 0.04), attack success, the IoU change, the
overlap of exemplar sets. The paper does not say whether its percentages count all units or only interpretable ones,
so both are reported.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.neurons.dissection import DissectionResult


def _check_pair(clean: DissectionResult, corrupted: DissectionResult) -> None:
    if clean.num_units != corrupted.num_units or clean.iou.shape != corrupted.iou.shape:
        shapes = f"{tuple(clean.iou.shape)} and {tuple(corrupted.iou.shape)}"
        raise ValueError(f"Expected two dissections of the same layer and labels, but got {shapes}")


def label_changed(clean: DissectionResult, corrupted: DissectionResult) -> Tensor:
    """``(K,)`` bool: the unit's assigned label differs."""
    _check_pair(clean, corrupted)
    return clean.label != corrupted.label


def changed_fraction(clean: DissectionResult, corrupted: DissectionResult) -> dict[str, float]:
    """Fraction of units whose label changed, over all units and over the clean-interpretable ones.

    A unit can keep its label while its score collapses (the label is the arg-max of IoUs that all dropped), so the
    fraction of clean-interpretable units that are no longer interpretable is reported too.

    Returns:
        ``{"changed/all", "changed/interpretable", "lost/interpretable", "units/all", "units/interpretable"}``; the
        interpretable fractions are ``nan`` when no unit is interpretable.
    """
    changed = label_changed(clean, corrupted)
    interp = clean.interpretable
    n_interp = int(interp.sum())
    lost = interp & ~corrupted.interpretable
    return {
        "changed/all": float(changed.float().mean()),
        "changed/interpretable": float(changed[interp].float().mean()) if n_interp else float("nan"),
        "lost/interpretable": float(lost[interp].float().mean()) if n_interp else float("nan"),
        "units/all": float(clean.num_units),
        "units/interpretable": float(n_interp),
    }


def iou_change(clean: DissectionResult, corrupted: DissectionResult) -> Tensor:
    """``(K,)`` IoU of each unit's *clean* label after minus before the corruption (negative: the label fits worse)."""
    _check_pair(clean, corrupted)
    rows = torch.arange(clean.num_units)
    return corrupted.iou[rows, clean.label] - clean.iou[rows, clean.label]


def attack_success(
    clean: DissectionResult, corrupted: DissectionResult, unit: int, target_label: int | None = None
) -> bool:
    """Targeted: the unit's new label is ``target_label``; untargeted (``None``): its label changed."""
    _check_pair(clean, corrupted)
    new = int(corrupted.label[unit])
    return new == target_label if target_label is not None else new != int(clean.label[unit])


def exemplar_overlap(a: Tensor, b: Tensor) -> float:
    """``|a & b| / |a|`` for two sets of dataset indices (e.g. a unit's top-k exemplars before and after).

    Example:
        >>> exemplar_overlap(torch.tensor([1, 2, 3, 4]), torch.tensor([4, 3, 9, 8]))
        0.5
    """
    if a.numel() == 0:
        raise ValueError("Expected a non-empty exemplar set `a`, but got an empty one")
    return len(set(a.tolist()) & set(b.tolist())) / a.numel()


def corruption_summary(clean: DissectionResult, corrupted: DissectionResult, prefix: str = "") -> dict[str, float]:
    """Label-change fractions and mean IoU change (all units, interpretable units), keys prefixed by ``prefix``."""
    out = changed_fraction(clean, corrupted)
    delta = iou_change(clean, corrupted)
    interp = clean.interpretable
    out["iou_change/all"] = float(delta.mean())
    out["iou_change/interpretable"] = float(delta[interp].mean()) if bool(interp.any()) else float("nan")
    return {prefix + k: v for k, v in out.items()}
