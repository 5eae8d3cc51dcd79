"""End-to-end jobs: dissect, corrupt with noise, attack; each writes its results under an output directory.

What ``evaluate.py dissect|noise|attack`` (:mod:`robattr.cli.neurons`) and ``scripts/neuron_experiment.py`` run.
Layout of ``out_dir``: ``clean/`` and ``corrupted/`` (``tally.csv``, ``result.json``, ``result.pt``), ``poisoned/``
(the replaced images), ``metrics.json`` (the metrics and a ``metadata`` record), ``tensorboard/``, the optional
``config.yaml`` and ``robattr_job.json`` (job, status and metadata).

Before any compute a job checks ``clean`` against its own model, layer and probing set
(:meth:`~robattr.neurons.dissection.DissectionResult.check_matches`) and its output directory
(:func:`~robattr.neurons.outputs.open_output_dir`: writable, not another job's, no complete earlier results unless
``overwrite``). Every file is written atomically; ``robattr_job.json`` turns ``complete`` after the last one.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from robattr.data.broden import BrodenDataset
from robattr.models.utils import eval_mode, to_model
from robattr.neurons.attacks import ProbingAttack
from robattr.neurons.comparison import attack_success, corruption_summary
from robattr.neurons.dissection import DissectionResult, NetworkDissection, dissection_fingerprint
from robattr.neurons.hooks import resolve_layer
from robattr.neurons.noise import NoiseCorruption
from robattr.neurons.outputs import atomic_file, finish_output_dir, open_output_dir, read_job, write_json
from robattr.neurons.phases import track
from robattr.neurons.report import save_result, write_tensorboard


def classification_accuracy(
    model: nn.Module, dataset: BrodenDataset, batch_size: int = 64, progress: bool = False
) -> float | None:
    """Top-1 accuracy of ``model`` on ``dataset`` (``None`` when the probing set has no class labels)."""
    if not dataset.has_targets:
        return None
    correct = 0
    task = "accuracy" if dataset.image_overrides is None else "accuracy on the corrupted set"
    with eval_mode(model), torch.no_grad():
        for batch in track(dataset.loader(batch_size, images_only=True), task, progress):
            logits = model(to_model(model, batch.images))
            correct += int((logits.argmax(1).cpu() == batch.targets).sum())
    return correct / max(1, len(dataset))


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in data.items()}


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _start(
    job: str,
    model: nn.Module,
    dataset: BrodenDataset,
    dissection: NetworkDissection,
    out_dir: str,
    clean: DissectionResult | None,
    write: bool,
    overwrite: bool,
    config: str | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Every check before compute; returns the run's metadata. Order: layer, ``clean``, output directory."""
    resolve_layer(model, dissection.layer)
    fingerprint = dissection_fingerprint(model, dataset, dissection)
    if clean is not None:
        clean.check_matches(fingerprint)
    metadata = {"job": job, **fingerprint, "dissection": repr(dissection), **settings}
    if clean is not None:
        metadata["clean"] = getattr(clean, "source", None) or "given in memory"
    open_output_dir(out_dir, job, metadata, overwrite, mark=write)
    if write and config is not None:
        with atomic_file(os.path.join(out_dir, "config.yaml")) as f:
            f.write(config)
    return metadata


def _write_metrics(out_dir: str, metrics: dict[str, Any], metadata: dict[str, Any]) -> None:
    record = read_job(out_dir) or {}
    meta = {**metadata, **{k: record[k] for k in ("robattr", "torch", "lightning", "python", "started") if k in record}}
    write_json(os.path.join(out_dir, "metrics.json"), {**_finite(metrics), "metadata": meta})


def run_dissect(
    model: nn.Module,
    dataset: BrodenDataset,
    dissection: NetworkDissection,
    out_dir: str,
    tensorboard: bool = True,
    overwrite: bool = False,
    config: str | None = None,
) -> DissectionResult:
    """Dissect ``dissection.layer`` of ``model`` on ``dataset``; write ``out_dir/clean`` and a TensorBoard summary.

    Args:
        model: the network.
        dataset: the probing set.
        dissection: the dissection settings (layer, quantile ...).
        out_dir: the output directory (checked before any compute, see :mod:`robattr.neurons.outputs`).
        tensorboard: write a TensorBoard summary under ``out_dir/tensorboard``.
        overwrite: replace the complete results of an earlier ``dissect`` in ``out_dir`` (else refused).
        config: the text of the resolved configuration, written as ``out_dir/config.yaml`` after the checks.

    Raises:
        ValueError: for a bad layer, or an ``out_dir`` that cannot be written or holds another job's results.
        FileExistsError: if ``out_dir`` holds complete results of an earlier ``dissect`` and ``overwrite`` is false.
    """
    metadata = _start("dissect", model, dataset, dissection, out_dir, None, True, overwrite, config, {})
    result = dissection(model, dataset)
    metrics: dict[str, Any] = {
        "dissect/interpretable_units": int(result.interpretable.sum()),
        "dissect/units": result.num_units,
    }
    accuracy = classification_accuracy(model, dataset, dissection.batch_size, dissection.progress)
    if accuracy is not None:
        metrics["dissect/accuracy"] = accuracy
    save_result(result, os.path.join(out_dir, "clean"), metadata)
    _write_metrics(out_dir, metrics, metadata)
    if tensorboard:
        write_tensorboard(
            result, os.path.join(out_dir, "tensorboard"), model, dataset, tag="clean", metrics=_scalars(metrics)
        )
    finish_output_dir(out_dir)
    rank_zero_info(
        f"dissect: {int(result.interpretable.sum())} / {result.num_units} interpretable units in {result.layer}; "
        f"results in {out_dir}"
    )
    return result


def _accuracies(
    model: nn.Module,
    clean_ds: BrodenDataset,
    corrupted_ds: BrodenDataset,
    batch_size: int,
    prefix: str,
    progress: bool = False,
) -> dict[str, float]:
    before = classification_accuracy(model, clean_ds, batch_size, progress)
    if before is None:
        return {}
    after = classification_accuracy(model, corrupted_ds, batch_size, progress)
    return {f"{prefix}/accuracy_clean": before, f"{prefix}/accuracy_corrupted": float(after)}


def _finish(
    out_dir: str,
    metrics: dict[str, Any],
    metadata: dict[str, Any],
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
    save_result(clean, os.path.join(out_dir, "clean"), metadata)
    save_result(corrupted, os.path.join(out_dir, "corrupted"), metadata)
    _write_metrics(out_dir, metrics, metadata)
    if tensorboard:
        write_tensorboard(
            corrupted, os.path.join(out_dir, "tensorboard"), model, corrupted_ds, tag=tag, metrics=_scalars(metrics)
        )
    finish_output_dir(out_dir)
    rank_zero_info(f"{tag}: results in {out_dir}")


def _clean(model: nn.Module, dataset: BrodenDataset, dissection: NetworkDissection, clean: DissectionResult | None):
    if clean is not None:
        return clean
    rank_zero_info(f"clean dissection of {dissection.layer} on {len(dataset)} images")
    return dissection(model, dataset)


def run_noise(
    model: nn.Module,
    dataset: BrodenDataset,
    dissection: NetworkDissection,
    noise: NoiseCorruption,
    out_dir: str,
    clean: DissectionResult | None = None,
    write: bool = True,
    tensorboard: bool = True,
    overwrite: bool = False,
    config: str | None = None,
) -> dict[str, Any]:
    """Dissect on clean data (unless ``clean`` is given), corrupt with ``noise``, re-dissect, compare.

    Args:
        model: the network.
        dataset: the clean probing set.
        dissection: the dissection settings (layer, quantile ...).
        noise: the corruption.
        out_dir: the output directory (checked before any compute, see :mod:`robattr.neurons.outputs`).
        clean: a clean dissection to reuse; it must be one of the same layer, model and probing set.
        write: write the results (``False``: only the poisoned images are written).
        tensorboard: write a TensorBoard summary.
        overwrite: replace the complete results of an earlier ``noise`` job in ``out_dir`` (else refused).
        config: the text of the resolved configuration, written as ``out_dir/config.yaml`` after the checks.

    Returns:
        ``noise/changed/all``, ``noise/changed/interpretable``, ``noise/iou_change/*``, ``noise/poisoned_fraction``,
        the noise settings, and the accuracies when the set has class labels.

    Raises:
        ValueError: if ``clean`` is a dissection of another layer, model or probing set (naming both), or
            ``out_dir`` cannot be written or holds another job's results.
        FileExistsError: if ``out_dir`` holds complete results of an earlier ``noise`` job and ``overwrite`` is false.
    """
    settings = {"noise": repr(noise)}
    metadata = _start("noise", model, dataset, dissection, out_dir, clean, write, overwrite, config, settings)
    clean = _clean(model, dataset, dissection, clean)
    poisoning = noise(dataset, os.path.join(out_dir, "poisoned"), progress=dissection.progress)
    corrupted_ds = poisoning.dataset(dataset)
    rank_zero_info(f"noise: dissection of the corrupted set ({len(poisoning.indices)} images replaced)")
    corrupted = dissection(model, corrupted_ds)
    metrics: dict[str, Any] = {
        "noise/kind": noise.kind,
        "noise/sigma": noise.sigma,
        "noise/storage": noise.storage,
        "noise/seed": noise.seed,
        "noise/poisoned_fraction": poisoning.fraction,
    }
    metrics.update(corruption_summary(clean, corrupted, prefix="noise/"))
    metrics.update(_accuracies(model, dataset, corrupted_ds, dissection.batch_size, "noise", dissection.progress))
    _finish(out_dir, metrics, metadata, clean, corrupted, write, tensorboard, model, corrupted_ds, "noise")
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
    overwrite: bool = False,
    config: str | None = None,
) -> dict[str, Any]:
    """Dissect on clean data (unless ``clean`` is given), poison with ``attack``, re-dissect the whole layer, compare.

    Every attack follows one contract (:class:`~robattr.neurons.attacks.ProbingAttack`): ``prepare`` takes what its
    masks need from the clean run (for an :class:`~robattr.neurons.attacks.ExemplarAttack`, the clean exemplars),
    ``poison`` writes the perturbed images, ``outcome`` adds the variant's own results (the unit-to-unit and exemplar
    variants).

    Args:
        model: the network.
        dataset: the clean probing set.
        dissection: the dissection settings (layer, quantile ...).
        attack: the crafted attack.
        out_dir: the output directory (checked before any compute, see :mod:`robattr.neurons.outputs`).
        clean: a clean dissection to reuse; it must be one of the same layer, model and probing set.
        write: write the results (``False``: only the poisoned images are written).
        tensorboard: write a TensorBoard summary.
        overwrite: replace the complete results of an earlier ``attack`` job in ``out_dir`` (else refused).
        config: the text of the resolved configuration, written as ``out_dir/config.yaml`` after the checks.

    Returns:
        ``attack/success`` (targeted: new label == target; untargeted and unit variants: label changed; exemplar
        variant: the new top-k shares more images with the target's than with the old set),
        ``attack/poisoned_fraction``, the unit's labels and IoUs before / after, the label-change fractions of the
        whole layer, the accuracies when the set has class labels, and for the exemplar variant the overlaps.

    Raises:
        TypeError: if ``attack`` is not a :class:`~robattr.neurons.attacks.ProbingAttack`.
        ValueError, FileExistsError: as :func:`run_noise`; ``ValueError`` also for a unit not in the layer.
    """
    if not isinstance(attack, ProbingAttack):
        raise TypeError(
            f"Expected `attack` to be a ConceptAttack, UnitAttack or ExemplarAttack, but got {type(attack).__name__}"
        )
    settings = {"attack": repr(attack)}
    metadata = _start("attack", model, dataset, dissection, out_dir, clean, write, overwrite, config, settings)
    layer, unit, progress, batch_size = dissection.layer, attack.unit, dissection.progress, dissection.batch_size
    clean = _clean(model, dataset, dissection, clean)
    attack.prepare(model, layer, dataset, clean, batch_size=batch_size, progress=progress)
    poisoning = attack.poison(model, layer, dataset, os.path.join(out_dir, "poisoned"), progress=progress)
    corrupted_ds = poisoning.dataset(dataset)
    rank_zero_info(f"attack: dissection of the corrupted set ({len(poisoning.indices)} images replaced)")
    corrupted = dissection(model, corrupted_ds)
    target_label = attack.target_label
    source, new_label = int(clean.label[unit]), int(corrupted.label[unit])
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
    metrics.update(attack.outcome(model, layer, dataset, corrupted_ds, clean, corrupted, batch_size, progress))
    metrics.update(corruption_summary(clean, corrupted, prefix="layer/"))
    metrics.update(_accuracies(model, dataset, corrupted_ds, batch_size, "attack", progress))
    _finish(out_dir, metrics, metadata, clean, corrupted, write, tensorboard, model, corrupted_ds, "attack")
    return metrics
