"""Dissection results as files: ``tally.csv`` (NetDissect's columns), ``result.json``, ``result.pt``, TensorBoard."""

from __future__ import annotations

import csv
import math
import os
from typing import Any

import torch
from torch import nn

from robattr.data.broden import BrodenDataset
from robattr.neurons.dissection import DissectionResult
from robattr.neurons.exemplars import exemplar_masks
from robattr.neurons.outputs import atomic_file, write_json


def result_rows(result: DissectionResult, top: int = 5) -> list[dict[str, Any]]:
    """One dict per unit (in unit order, 0-based ``unit``): ``category, label, number, score, threshold,
    interpretable``, per category ``<cat>-label/-truth/-activation/-intersect/-iou`` (as NetDissect's ``tally.csv``) and
    ``top1..top5-label/-category/-iou``.
    """
    c = result.concepts
    cats = result.categories
    rows = []
    for k in range(result.num_units):
        label = int(c.label[k])
        row: dict[str, Any] = {
            "unit": k,
            "category": cats[int(c.category[k])] if int(c.category[k]) >= 0 else "",
            "label": result.label_names[label],
            "number": label,
            "score": float(c.score[k]),
            "threshold": float(result.thresholds[k]),
            "interpretable": bool(result.interpretable[k]),
        }
        for g, cat in enumerate(cats):
            n = int(c.category_label[k, g])
            row[f"{cat}-label"] = result.label_names[n]
            row[f"{cat}-truth"] = int(result.label_count[n])
            row[f"{cat}-activation"] = int(result.unit_category[k, g])
            row[f"{cat}-intersect"] = int(result.intersection[k, n])
            row[f"{cat}-iou"] = float(c.category_score[k, g])
        for t in range(min(top, c.top_labels.shape[1])):
            n = int(c.top_labels[k, t])
            g = int(result.primary_category[n])
            row[f"top{t + 1}-label"] = result.label_names[n]
            row[f"top{t + 1}-category"] = cats[g] if g >= 0 else ""
            row[f"top{t + 1}-iou"] = float(c.top_scores[k, t])
        rows.append(row)
    return rows


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def save_result(result: DissectionResult, out_dir: str, metadata: dict[str, Any] | None = None) -> None:
    """Write ``tally.csv``, ``result.json`` (summary, per-unit rows and ``metadata``: what produced the result) and
    ``result.pt`` (reload with :meth:`DissectionResult.load`) under ``out_dir``, each file atomically.
    """
    os.makedirs(out_dir, exist_ok=True)
    rows = result_rows(result)
    with atomic_file(os.path.join(out_dir, "tally.csv")) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {
        "layer": result.layer,
        "quantile": result.quantile,
        "num_images": result.num_images,
        "num_units": result.num_units,
        "score_threshold": result.score_threshold,
        "interpretable_units": int(result.interpretable.sum()),
        "categories": result.categories,
        "metadata": {**(result.fingerprint or {}), **(metadata or {})},
        "units": [{k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()} for row in rows],
    }
    write_json(os.path.join(out_dir, "result.json"), summary)
    with atomic_file(os.path.join(out_dir, "result.pt"), "wb") as f:
        torch.save(result.state_dict(), f)


def label_table(result: DissectionResult, max_units: int | None = None) -> str:
    """A markdown table ``unit | label | category | IoU`` sorted by IoU (descending, ties by unit)."""
    order = sorted(range(result.num_units), key=lambda k: (-float(result.score[k]), k))[:max_units]
    lines = [
        f"**{result.layer}**: {int(result.interpretable.sum())} / {result.num_units} units with IoU > "
        f"{result.score_threshold}",
        "",
        "| unit | label | category | IoU |",
        "|---:|---|---|---:|",
    ]
    for k in order:
        g = int(result.concepts.category[k])
        cat = result.categories[g] if g >= 0 else ""
        lines.append(f"| {k} | {result.label_name(k)} | {cat} | {float(result.score[k]):.4f} |")
    return "\n".join(lines)


def write_tensorboard(
    result: DissectionResult,
    log_dir: str,
    model: nn.Module | None = None,
    dataset: BrodenDataset | None = None,
    tag: str = "dissect",
    n_units: int = 8,
    n_exemplars: int = 4,
    metrics: dict[str, float] | None = None,
) -> None:
    """A TensorBoard summary: the layer's label table as text, the top exemplars of the ``n_units`` best units with
    their masks as images (needs ``model`` and ``dataset``; pixels outside the mask are dimmed), and ``metrics`` as
    scalars.
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir)
    try:
        writer.add_text(f"{tag}/{result.layer}/labels", label_table(result))
        for name, value in (metrics or {}).items():
            if math.isfinite(value):
                writer.add_scalar(f"{tag}/{name}", value)
        if model is not None and dataset is not None:
            units = sorted(range(result.num_units), key=lambda k: (-float(result.score[k]), k))[:n_units]
            indices = result.exemplar_indices[:, :n_exemplars]
            masks = exemplar_masks(model, result.layer, dataset, indices, units, result.thresholds)
            for unit in units:
                images = torch.stack([dataset.load_image(i) for i in indices[unit].tolist()])
                shown = images * (0.3 + 0.7 * masks[unit][:, None].float())
                writer.add_images(f"{tag}/{result.layer}/unit{unit:04d}_{result.label_name(unit)}", shown)
    finally:
        writer.close()
