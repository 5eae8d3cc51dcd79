#!/usr/bin/env python
"""The scaled-down experiment of spec ``neuron-explanations.md`` section 7.5 (offline tier), as run for docs/neurons.md.

Probing set: the generated Broden-format set (400 images 64x64, masks 32x32). Models: the planted-unit CNN (six
hand-set units, layer ``pool``) and a randomly initialised torchvision ResNet-18 (``layer1`` .. ``layer4``; no
pretrained weights can be fetched here, so its labels mean little: only their stability is measured).

Sections (each writes ``<out>/<section>.json`` with one row per run; ``<out>/summary.md`` holds the tables):

- ``noise``: planted CNN, Gaussian / uniform / Bernoulli noise, sigma in {0, 0.005, 0.01, 0.02, 0.05}, seeds 0-2,
  every image poisoned, lossless and 8-bit JPEG storage.
- ``attack``: planted CNN, the targeted crafted attack for every (unit, other colour) pair at eps in {2, 4, 8}/255,
  10 steps, lossless; the headline pair (fragile red unit -> green) also with JPEG storage; untargeted for every unit.
- ``unit``: unit-to-unit attacks for every ordered pair of units at eps 4/255.
- ``exemplar``: MILAN-style exemplar attacks (k = 10, 10 images each) at eps in {4, 8, 16}/255.
- ``resnet``: random-init ResNet-18, Gaussian sigma in {0, 0.02}, seeds 0-2, both storages, per layer.

Usage::

    python scripts/neuron_experiment.py --out logs/neuron_experiment
    python scripts/neuron_experiment.py --out logs/neuron_experiment --sections '[noise]' --seeds '[0]'
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from jsonargparse import CLI

from robattr.data.broden_synthetic import SyntheticBrodenDataset
from robattr.models import PlantedUnitCNN, TorchvisionClassifier
from robattr.neurons import (
    ConceptAttack,
    ExemplarAttack,
    NetworkDissection,
    NoiseCorruption,
    UnitAttack,
    classification_accuracy,
    corruption_summary,
    run_attack,
    run_noise,
)

COLOURS = ("red", "green", "blue", "yellow", "white", "black")
SIGMAS = (0.0, 0.005, 0.01, 0.02, 0.05)
EPS = (2 / 255, 4 / 255, 8 / 255)


def _in_tmp(fn: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    out = tempfile.mkdtemp(prefix="neuron_exp_")
    try:
        return fn(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return statistics.fmean(finite) if finite else float("nan")


def _fmt(x: float, pct: bool = True) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _noise_run(model, ds, dissection, clean, noise: NoiseCorruption, out: str) -> dict[str, Any]:
    """One noisy dissection: the label-change metrics, plus which units changed and the fragile unit's new label."""
    poisoning = noise(ds, os.path.join(out, "poisoned"))
    corrupted_ds = poisoning.dataset(ds)
    corrupted = dissection(model, corrupted_ds)
    changed = (clean.label != corrupted.label).tolist()
    m: dict[str, Any] = {"kind": noise.kind, "sigma": noise.sigma, "storage": noise.storage, "seed": noise.seed}
    m.update(corruption_summary(clean, corrupted))
    m["robust_changed"] = _mean([float(c) for u, c in enumerate(changed) if u != 1])
    m["fragile_label"], m["fragile_score"] = corrupted.label_name(1), float(corrupted.score[1])
    m["accuracy"] = classification_accuracy(model, corrupted_ds)
    return m


def noise_section(model, ds, dissection, clean, seeds: list[int]) -> tuple[list[dict], str]:
    rows = []
    for kind, sigma, storage, seed in itertools.product(
        ("gaussian", "uniform", "bernoulli"), SIGMAS, ("lossless", "jpeg"), seeds
    ):
        noise = NoiseCorruption(kind, sigma=sigma, storage=storage, seed=seed)
        rows.append(_in_tmp(lambda out, noise=noise: _noise_run(model, ds, dissection, clean, noise, out)))
    groups = defaultdict(list)
    for r in rows:
        groups[(r["kind"], r["sigma"], r["storage"])].append(r)
    lines = [
        "| noise | sigma | storage | units changed (of 6) "
        "| robust units changed (of 5) | fragile unit: label (IoU) per seed "
        "| interpretable units no longer interpretable | mean IoU change | accuracy |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for (kind, sigma, storage), rs in groups.items():
        fragile = ", ".join(f"{r['fragile_label']} ({r['fragile_score']:.3f})" for r in rs)
        lines.append(
            f"| {kind} | {sigma} | {storage} | {_fmt(_mean([r['changed/all'] for r in rs]))} "
            f"| {_fmt(_mean([r['robust_changed'] for r in rs]))} "
            f"| {fragile} | {_fmt(_mean([r['lost/interpretable'] for r in rs]))} "
            f"| {_fmt(_mean([r['iou_change/all'] for r in rs]), False)} "
            f"| {_fmt(_mean([r['accuracy'] for r in rs]))} |"
        )
    return rows, "\n".join(lines)


def attack_section(model, ds, dissection, clean) -> tuple[list[dict], str]:
    rows = []
    for unit, eps in itertools.product(range(clean.num_units), EPS):
        for target in [c for c in COLOURS if c != clean.label_name(unit)]:
            attack = ConceptAttack(unit=unit, target=target, target_category="color", eps=eps)
            rows.append(
                _in_tmp(
                    lambda out, attack=attack: run_attack(model, ds, dissection, attack, out, clean=clean, write=False)
                )
            )
        rows.append(
            _in_tmp(
                lambda out, unit=unit, eps=eps: run_attack(
                    model, ds, dissection, ConceptAttack(unit=unit, eps=eps), out, clean=clean, write=False
                )
            )
        )
    jpeg = ConceptAttack(unit=1, target="green", target_category="color", eps=4 / 255, storage="jpeg")
    rows.append(_in_tmp(lambda out: run_attack(model, ds, dissection, jpeg, out, clean=clean, write=False)))
    lines = [
        "| unit (clean label) | variant | eps | success | poisoned fraction (mean) "
        "| success among pairs with < 10% poisoned |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for unit, eps in itertools.product(range(clean.num_units), EPS):
        for variant in ("targeted", "untargeted"):
            rs = [
                r
                for r in rows
                if r["attack/unit"] == unit
                and r["attack/eps"] == eps
                and r["attack/storage"] == "lossless"
                and (r["attack/target_label"] != "") == (variant == "targeted")
            ]
            small = [r for r in rs if r["attack/poisoned_fraction"] < 0.10]
            lines.append(
                f"| {unit} ({clean.label_name(unit)}) | {variant} | {round(eps * 255)}/255 "
                f"| {sum(r['attack/success'] for r in rs)}/{len(rs)} "
                f"| {_fmt(_mean([r['attack/poisoned_fraction'] for r in rs]))} "
                f"| {sum(r['attack/success'] for r in small)}/{len(small)} |"
            )
    r = rows[-1]
    lines.append("")
    lines.append(
        f"JPEG storage, unit 1 red -> green at 4/255: new label {r['attack/new_label']},"
        f" success {r['attack/success']}, "
        f"poisoned {_fmt(r['attack/poisoned_fraction'])}."
    )
    return rows, "\n".join(lines)


def unit_section(model, ds, dissection, clean) -> tuple[list[dict], str]:
    rows = []
    for unit, target in itertools.permutations(range(clean.num_units), 2):
        attack = UnitAttack(unit=unit, target_unit=target, eps=4 / 255)
        rows.append(
            _in_tmp(lambda out, attack=attack: run_attack(model, ds, dissection, attack, out, clean=clean, write=False))
        )
    lines = [
        "| unit (clean label) | took the target unit's label | label changed | poisoned fraction (mean) |",
        "|---|---:|---:|---:|",
    ]
    for unit in range(clean.num_units):
        rs = [r for r in rows if r["attack/unit"] == unit]
        lines.append(
            f"| {unit} ({clean.label_name(unit)}) "
            f"| {sum(r['attack/label_of_target_unit_taken'] for r in rs)}/{len(rs)} "
            f"| {sum(r['attack/new_label'] != r['attack/source_label'] for r in rs)}/{len(rs)} "
            f"| {_fmt(_mean([r['attack/poisoned_fraction'] for r in rs]))} |"
        )
    return rows, "\n".join(lines)


def exemplar_section(model, ds, dissection, clean) -> tuple[list[dict], str]:
    rows = []
    pairs = [(1, 3), (0, 3), (1, 2), (3, 1)]
    for (unit, target), eps in itertools.product(pairs, (4 / 255, 8 / 255, 16 / 255)):
        attack = ExemplarAttack(unit=unit, target_unit=target, n_images=10, k=10, eps=eps)
        m = _in_tmp(lambda out, attack=attack: run_attack(model, ds, dissection, attack, out, clean=clean, write=False))
        m["target_unit"] = target
        rows.append(m)
    lines = [
        "| source unit -> target unit | eps | new top-10 shared with old | with target's | poisoned images "
        "| NetDissect label after |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            ""
            f"| {r['attack/unit']} ({r['attack/source_label']}) -> {r['target_unit']}"
            f" ({clean.label_name(r['target_unit'])}) "
            f"| {round(r['attack/eps'] * 255)}/255 | {_fmt(r['exemplars/overlap_with_clean'])} "
            f"| {_fmt(r['exemplars/overlap_with_target'])} "
            f"| {r['attack/poisoned_images']} | {r['attack/new_label']} |"
        )
    return rows, "\n".join(lines)


def resnet_section(ds, seeds: list[int]) -> tuple[list[dict], str]:
    torch.manual_seed(0)
    model = TorchvisionClassifier("resnet18", num_classes=2).eval()
    rows = []
    for layer in ("net.layer1", "net.layer2", "net.layer3", "net.layer4"):
        dissection = NetworkDissection(layer, progress=False)
        clean = dissection(model, ds)
        for sigma, storage, seed in itertools.product((0.0, 0.02), ("lossless", "jpeg"), seeds):
            if sigma == 0.0 and storage == "lossless":
                continue  # identical images: nothing can change
            noise = NoiseCorruption("gaussian", sigma=sigma, storage=storage, seed=seed)
            m = _in_tmp(
                lambda out, dissection=dissection, noise=noise, clean=clean: run_noise(
                    model, ds, dissection, noise, out, clean=clean, write=False
                )
            )
            m["layer"] = layer
            m["interpretable_clean"] = int(clean.interpretable.sum())
            rows.append(m)
    lines = [
        "| layer | units | interpretable (clean) | sigma | storage | units changed | interpretable changed "
        "| lost interpretability |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["layer"], r["noise/sigma"], r["noise/storage"])].append(r)
    for (layer, sigma, storage), rs in groups.items():
        lines.append(
            f"| {layer.split('.')[-1]} | {int(rs[0]['noise/units/all'])} "
            f"| {rs[0]['interpretable_clean']} | {sigma} | {storage} "
            f"| {_fmt(_mean([r['noise/changed/all'] for r in rs]))} "
            f"| {_fmt(_mean([r['noise/changed/interpretable'] for r in rs]))} "
            f"| {_fmt(_mean([r['noise/lost/interpretable'] for r in rs]))} |"
        )
    return rows, "\n".join(lines)


def main(
    out: str = "logs/neuron_experiment",
    data: str = "data/synthetic_broden",
    sections: list[str] = ["noise", "attack", "unit", "exemplar", "resnet"],  # noqa: B006 (jsonargparse default)
    seeds: list[int] = [0, 1, 2],  # noqa: B006
    threads: int = 1,
) -> None:
    """Run the sections and write ``<out>/<section>.json`` and ``<out>/summary.md``.

    Args:
        out: output directory.
        data: directory of the generated probing set (written if missing: 400 images, seed 0).
        sections: any of ``noise``, ``attack``, ``unit``, ``exemplar``, ``resnet``.
        seeds: noise seeds.
        threads: torch intra-op threads (1 is fastest for these small tensors on a shared CPU).
    """
    torch.set_num_threads(threads)
    os.makedirs(out, exist_ok=True)
    ds = SyntheticBrodenDataset(data, n_images=400, seed=0)
    model = PlantedUnitCNN()
    dissection = NetworkDissection("pool", progress=False)
    clean = dissection(model, ds)
    summary = [
        f"Probing set: {data} ({len(ds)} images). Planted CNN clean labels: {clean.names()}, "
        f"scores {[round(float(s), 3) for s in clean.score]}."
    ]
    for section in sections:
        start = time.time()
        if section == "noise":
            rows, table = noise_section(model, ds, dissection, clean, seeds)
        elif section == "attack":
            rows, table = attack_section(model, ds, dissection, clean)
        elif section == "unit":
            rows, table = unit_section(model, ds, dissection, clean)
        elif section == "exemplar":
            rows, table = exemplar_section(model, ds, dissection, clean)
        elif section == "resnet":
            rows, table = resnet_section(ds, seeds)
        else:
            raise ValueError(
                f"Expected `sections` to contain noise, attack, unit, exemplar or resnet, but got {section!r}"
            )
        with open(os.path.join(out, f"{section}.json"), "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1, default=float)
        summary += ["", f"## {section} ({len(rows)} runs, {time.time() - start:.0f} s)", "", table]
        with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(summary) + "\n")


if __name__ == "__main__":
    CLI(main, as_positional=False)
