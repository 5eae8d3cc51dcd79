"""End-to-end jobs: dissect, corrupt with noise, attack; each writes its results under an output directory.

What ``evaluate.py dissect|noise|attack`` (:mod:`robattr.cli.neurons`) and ``scripts/neuron_experiment.py`` run.
Layout of ``out_dir``: ``clean/`` and ``corrupted/`` (``tally.csv``, ``result.json``, ``result.pt``), ``poisoned/``
(the replaced images), ``metrics.json`` and ``tensorboard/``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

import torch
from torch import nn

from robattr.data.broden import BrodenDataset
from robattr.models.utils import eval_mode, to_model
from robattr.neurons.attacks import ConceptAttack, ExemplarAttack, ProbingAttack, UnitAttack
from robattr.neurons.comparison import attack_success, corruption_summary, exemplar_overlap
from robattr.neurons.dissection import DissectionResult, NetworkDissection
from robattr.neurons.exemplars import compute_exemplars
from robattr.neurons.noise import NoiseCorruption
from robattr.neurons.report import save_result, write_tensorboard

log = logging.getLogger(__name__)


def classification_accuracy(model: nn.Module, dataset: BrodenDataset, batch_size: int = 64) -> float | None:
    """Top-1 accuracy of ``model`` on ``dataset`` (``None`` when the probing set has no class labels)."""
    if not dataset.has_targets:
        return None
    correct = 0
    with eval_mode(model), torch.no_grad():
        for batch in dataset.loader(batch_size, images_only=True):
            logits = model(to_model(model, batch.images))
            correct += int((logits.argmax(1).cpu() == batch.targets).sum())
    return correct / max(1, len(dataset))


def _write_json(path: str, data: dict[str, Any]) -> None:
    clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in data.items()}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean, f, indent=1)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_dissect(
    model: nn.Module, dataset: BrodenDataset, dissection: NetworkDissection, out_dir: str, tensorboard: bool = True
) -> DissectionResult:
    """Dissect ``dissection.layer`` of ``model`` on ``dataset``; write ``out_dir/clean`` and a TensorBoard summary."""
    result = dissection(model, dataset)
    save_result(result, os.path.join(out_dir, "clean"))
    metrics: dict[str, Any] = {
        "dissect/interpretable_units": int(result.interpretable.sum()),
        "dissect/units": result.num_units,
    }
    accuracy = classification_accuracy(model, dataset, dissection.batch_size)
    if accuracy is not None:
        metrics["dissect/accuracy"] = accuracy
    _write_json(os.path.join(out_dir, "metrics.json"), metrics)
    if tensorboard:
        write_tensorboard(
            result, os.path.join(out_dir, "tensorboard"), model, dataset, tag="clean", metrics=_scalars(metrics)
        )
    log.info(
        "dissected %s: %d / %d interpretable units", result.layer, int(result.interpretable.sum()), result.num_units
    )
    return result


def _accuracies(
    model: nn.Module, clean_ds: BrodenDataset, corrupted_ds: BrodenDataset, batch_size: int, prefix: str
) -> dict[str, float]:
    before = classification_accuracy(model, clean_ds, batch_size)
    if before is None:
        return {}
    after = classification_accuracy(model, corrupted_ds, batch_size)
    return {f"{prefix}/accuracy_clean": before, f"{prefix}/accuracy_corrupted": float(after)}


def _finish(
    out_dir: str,
    metrics: dict[str, Any],
    clean: DissectionResult,
    corrupted: DissectionResult,
    write: bool,
    tensorboard: bool,
    model: nn.Module,
    corrupted_ds: BrodenDataset,
    tag: str,
) -> None:
    if not write:
        return
    save_result(clean, os.path.join(out_dir, "clean"))
    save_result(corrupted, os.path.join(out_dir, "corrupted"))
    _write_json(os.path.join(out_dir, "metrics.json"), metrics)
    if tensorboard:
        write_tensorboard(
            corrupted, os.path.join(out_dir, "tensorboard"), model, corrupted_ds, tag=tag, metrics=_scalars(metrics)
        )


def run_noise(
    model: nn.Module,
    dataset: BrodenDataset,
    dissection: NetworkDissection,
    noise: NoiseCorruption,
    out_dir: str,
    clean: DissectionResult | None = None,
    write: bool = True,
    tensorboard: bool = True,
) -> dict[str, Any]:
    """Dissect on clean data (unless ``clean`` is given), corrupt with ``noise``, re-dissect, compare.

    Returns:
        ``noise/changed/all``, ``noise/changed/interpretable``, ``noise/iou_change/*``, ``noise/poisoned_fraction``,
        the noise settings, and the accuracies when the set has class labels.
    """
    clean = clean if clean is not None else dissection(model, dataset)
    poisoning = noise(dataset, os.path.join(out_dir, "poisoned"), progress=dissection.progress)
    corrupted_ds = poisoning.dataset(dataset)
    corrupted = dissection(model, corrupted_ds)
    metrics: dict[str, Any] = {
        "noise/kind": noise.kind,
        "noise/sigma": noise.sigma,
        "noise/storage": noise.storage,
        "noise/seed": noise.seed,
        "noise/poisoned_fraction": poisoning.fraction,
    }
    metrics.update(corruption_summary(clean, corrupted, prefix="noise/"))
    metrics.update(_accuracies(model, dataset, corrupted_ds, dissection.batch_size, "noise"))
    _finish(out_dir, metrics, clean, corrupted, write, tensorboard, model, corrupted_ds, "noise")
    return metrics


def run_attack(
    model: nn.Module,
    dataset: BrodenDataset,
    dissection: NetworkDissection,
    attack: ProbingAttack,
    out_dir: str,
    clean: DissectionResult | None = None,
    write: bool = True,
    tensorboard: bool = True,
) -> dict[str, Any]:
    """Dissect on clean data (unless ``clean`` is given), poison with ``attack``, re-dissect the whole layer, compare.

    For an :class:`ExemplarAttack` the clean exemplars (``attack.k`` per unit, masks at the top ``attack.quantile``)
    drive the poisoning, and the source unit's exemplars are recomputed on the corrupted set.

    Returns:
        ``attack/success`` (targeted: new label == target; untargeted and unit variants: label changed; exemplar
        variant: the new top-k shares more images with the target's than with the old set),
        ``attack/poisoned_fraction``, the unit's labels and IoUs before / after, the label-change fractions of the
        whole layer, the accuracies when the set has class labels, and for the exemplar variant the overlaps.
    """
    layer = dissection.layer
    clean = clean if clean is not None else dissection(model, dataset)
    poisoned_dir = os.path.join(out_dir, "poisoned")
    unit = attack.unit
    target_label: int | None = None
    extra: dict[str, Any] = {}
    if isinstance(attack, ConceptAttack):
        poisoning = attack(model, layer, dataset, clean, poisoned_dir, progress=dissection.progress)
        target_label = attack.target_label if attack.target_label >= 0 else None
    elif isinstance(attack, UnitAttack):
        poisoning = attack(model, layer, dataset, clean, poisoned_dir, progress=dissection.progress)
    elif isinstance(attack, ExemplarAttack):
        units = [attack.unit, attack.target_unit]
        ex_clean = compute_exemplars(model, layer, dataset, attack.k, attack.quantile, units, dissection.batch_size)
        poisoning = attack(model, layer, dataset, ex_clean, poisoned_dir, progress=dissection.progress)
        ex_new = compute_exemplars(
            model, layer, poisoning.dataset(dataset), attack.k, attack.quantile, [], dissection.batch_size
        )
        new = ex_new.indices[unit]
        extra = {
            "exemplars/overlap_with_clean": exemplar_overlap(new, ex_clean.indices[unit]),
            "exemplars/overlap_with_target": exemplar_overlap(new, ex_clean.indices[attack.target_unit]),
        }
        extra["attack/success"] = extra["exemplars/overlap_with_target"] > extra["exemplars/overlap_with_clean"]
    else:
        raise TypeError(
            f"Expected `attack` to be a ConceptAttack, UnitAttack or ExemplarAttack, but got {type(attack).__name__}"
        )
    corrupted_ds = poisoning.dataset(dataset)
    corrupted = dissection(model, corrupted_ds)
    source = int(clean.label[unit])
    new_label = int(corrupted.label[unit])
    others = torch.ones(clean.num_units, dtype=torch.bool)
    others[unit] = False
    metrics: dict[str, Any] = {
        "attack/kind": type(attack).__name__,
        "attack/unit": unit,
        "attack/eps": attack.eps,
        "attack/storage": attack.storage,
        "attack/success": attack_success(clean, corrupted, unit, target_label),
        "attack/poisoned_fraction": poisoning.fraction,
        "attack/poisoned_images": len(poisoning.indices),
        "attack/source_label": clean.label_names[source],
        "attack/target_label": clean.label_names[target_label] if target_label is not None else "",
        "attack/new_label": corrupted.label_names[new_label],
        "attack/iou_source_before": float(clean.iou[unit, source]),
        "attack/iou_source_after": float(corrupted.iou[unit, source]),
        "attack/score_after": float(corrupted.score[unit]),
        "attack/other_units_changed": float((clean.label != corrupted.label)[others].float().mean())
        if clean.num_units > 1
        else 0.0,
    }
    if target_label is not None:
        metrics["attack/iou_target_before"] = float(clean.iou[unit, target_label])
        metrics["attack/iou_target_after"] = float(corrupted.iou[unit, target_label])
    if isinstance(attack, UnitAttack):
        metrics["attack/target_unit_label"] = clean.label_name(attack.target_unit)
        metrics["attack/label_of_target_unit_taken"] = new_label == int(clean.label[attack.target_unit])
    metrics.update(extra)
    metrics.update(corruption_summary(clean, corrupted, prefix="layer/"))
    metrics.update(_accuracies(model, dataset, corrupted_ds, dissection.batch_size, "attack"))
    _finish(out_dir, metrics, clean, corrupted, write, tensorboard, model, corrupted_ds, "attack")
    return metrics
