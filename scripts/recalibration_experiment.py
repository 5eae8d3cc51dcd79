#!/usr/bin/env python
"""MNIST-5k DiffID of every attribution method, without and with re-calibration (docs/recalibration.md).

Loads a trained MNIST-5k ``MnistCNN`` checkpoint (by default the natural quickstart model; with ``--train`` or when the
file is missing, trains one: Adam 1e-3, 5 epochs on the MNIST-5k training split, about 2 minutes on a CPU), then
scores every method on the MNIST-5k test digits with DiffID at ratios 0.1..0.9 (the same functions as
``FaithfulnessEvaluation``). Per image it keeps the DiffID-logit and DiffID-acc means over the ratios, so the table
also gives, for each re-calibrated method, the paired difference to its vanilla version with a standard error over
images. Vanilla maps are ranked by ``sum_c |A_c|`` as in the re-calibration code; a ``vanilla_signed`` control row
ranks the same maps by the signed ``sum_c A_c`` (no abs), to separate "re-calibration" from "dropping the abs".
Usage::

    python scripts/recalibration_experiment.py                      # 500 test digits, ~15-25 min on 2 CPU cores
    python scripts/recalibration_experiment.py --images 100 --out results/recal_quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attribution import (
    AdversarialGradientIntegration,
    ExpectedGradients,
    FullGrad,
    GradCAM,
    IGSmoothGrad,
    IGSquared,
    IGUniform,
    IntegratedGradients,
    LocalPathIntegration,
    RandomAttribution,
    Saliency,
    SmoothGrad,
    attribution_map,
)
from robattr.data import MNIST5k
from robattr.evaluation.base import load_classifier
from robattr.evaluation.faithfulness import diffid_logits, method_variants
from robattr.metrics.functional.diffid import DEFAULT_RATIOS, _diffid_compute, _diffid_update
from robattr.models import MnistCNN

DEFAULT_CHECKPOINT = "checkpoints/mnist5k_natural_quick/last.ckpt"


def methods(r: int, k: int) -> dict:
    return {
        "random": RandomAttribution(),
        "input_gradient": Saliency(),
        "gradcam": GradCAM(),
        "smoothgrad": SmoothGrad(n_samples=r),
        "fullgrad": FullGrad(),
        "ig": IntegratedGradients(n_steps=k),
        "ig_uniform": IGUniform(r, k),
        "ig_sg": IGSmoothGrad(r, k),
        "ig_sq": IGSquared(r, k),
        "eg": ExpectedGradients(r, k),
        "agi": AdversarialGradientIntegration(n_classes=9, n_steps=k),
        "lpi": LocalPathIntegration(n_prototypes=20, n_points=k),
    }


def train(dm: MNIST5k, epochs: int = 5) -> nn.Module:
    torch.manual_seed(0)
    net = MnistCNN()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for x, y in dm.train_dataloader():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return net.eval()


def per_image_scores(clean: Tensor, perturbed: Tensor, y: Tensor) -> Tensor:
    """``(N, 2)``: each image's DiffID-logit and DiffID-acc means over the ratios."""
    out = []
    for i in range(len(y)):
        res = _diffid_compute(
            *_diffid_update(clean[i : i + 1], perturbed[:, :, i : i + 1], y[i : i + 1]), DEFAULT_RATIOS
        )
        out.append(torch.stack([res["diffid_logit_mean"], res["diffid_acc_mean"]]))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--train", action="store_true", help="train a fresh MnistCNN instead of loading a checkpoint")
    parser.add_argument("--images", type=int, default=500, help="test digits scored (the MNIST-5k test split has 500)")
    parser.add_argument("--references", type=int, default=10)
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--out", default="results/recalibration_mnist5k")
    args = parser.parse_args()
    torch.manual_seed(0)
    dm = MNIST5k(batch_size=50, eval_batch_size=50, seed=0)
    dm.setup()
    if args.train or not Path(args.checkpoint).is_file():
        net, source = train(dm), "trained by this script (Adam 1e-3, 5 epochs)"
    else:
        net, source = load_classifier(args.checkpoint), args.checkpoint
    net.requires_grad_(False)
    attributions = methods(args.references, args.points)
    train_loader = torch.utils.data.DataLoader(dm.dataset("train"), batch_size=250, shuffle=False)
    attributions["lpi"].fit(net, train_loader)
    attributions["eg"].fit(
        net,
        torch.utils.data.DataLoader(
            dm.dataset("train"), batch_size=250, shuffle=True, generator=torch.Generator().manual_seed(0)
        ),
    )
    variants = method_variants(attributions, ["vanilla", "valid_ip", "valid_ref"])
    sums = {v: None for v in variants}
    per_image: dict[str, list[Tensor]] = {v: [] for v in variants}
    seconds = {v: 0.0 for v in variants}
    correct, seen = 0, 0
    start = time.time()
    for x, y in dm.test_dataloader():
        x, y = x[: args.images - seen], y[: args.images - seen]
        if len(y) == 0:
            break
        with torch.no_grad():
            clean = net(x)
        correct += int((clean.argmax(1) == y).sum())
        seen += len(y)
        for variant, (_, mode, method) in variants.items():
            t0 = time.time()
            attr = method(net, x, y).detach()
            seconds[variant] += time.time() - t0
            reductions = {variant: "abs_sum"}
            if mode == "vanilla":  # control: the signed map, ranked without abs
                reductions[variant.replace("/vanilla", "/vanilla_signed")] = "sum"
            for key, reduction in reductions.items():
                perturbed = diffid_logits(net, x, attribution_map(attr, reduction), DEFAULT_RATIOS)
                update = _diffid_update(clean, perturbed, y)
                sums[key] = update if sums.get(key) is None else tuple(a + b for a, b in zip(sums[key], update))
                per_image.setdefault(key, []).append(per_image_scores(clean, perturbed, y))
    results = []
    rows = [(v, n, m) for v, (n, m, _) in variants.items()]
    rows += [(v.replace("/vanilla", "/vanilla_signed"), n, "vanilla_signed") for v, n, m in rows if m == "vanilla"]
    for variant, name, mode in rows:
        out = _diffid_compute(*sums[variant], DEFAULT_RATIOS)
        row = {
            "method": name,
            "recalibration": mode,
            **{
                k: float(out[k]) for k in ("diffid_logit_auc", "diffid_logit_mean", "diffid_acc_auc", "diffid_acc_mean")
            },
        }
        row["diffid_logit"] = out["diffid_logit"].tolist()
        row["seconds"] = seconds.get(variant, seconds.get(f"{name}/vanilla", 0.0))
        if mode != "vanilla":
            diff = torch.cat(per_image[variant]) - torch.cat(per_image[f"{name}/vanilla"])
            se = diff.std(0) / math.sqrt(len(diff))
            row["delta_logit_mean"], row["delta_logit_se"] = float(diff[:, 0].mean()), float(se[0])
            row["delta_acc_mean"], row["delta_acc_se"] = float(diff[:, 1].mean()), float(se[1])
        results.append(row)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "checkpoint": source,
        "images": seen,
        "accuracy": correct / seen,
        "references": args.references,
        "points": args.points,
        "machine": f"{platform.platform()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": str(datetime.date.today()),
        "minutes": (time.time() - start) / 60,
    }
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, "rows": results}, indent=2))
    print(
        f"model: {source}; {seen} MNIST-5k test digits, accuracy {correct / seen:.3f}; R={args.references}, K={args.points}; "
        f"{meta['machine']}; {meta['date']}; {meta['minutes']:.1f} min"
    )
    print(
        "| method | recalibration | DiffID-logit AUC | DiffID-logit mean | DiffID-acc AUC | DiffID-acc mean | "
        "paired delta logit-mean vs vanilla (SE) | paired delta acc-mean (SE) | s / 50 img |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        delta = f"{r['delta_logit_mean']:+.4f} ({r['delta_logit_se']:.4f})" if "delta_logit_mean" in r else "-"
        delta_acc = f"{r['delta_acc_mean']:+.4f} ({r['delta_acc_se']:.4f})" if "delta_acc_mean" in r else "-"
        print(
            f"| {r['method']} | {r['recalibration']} | {r['diffid_logit_auc']:.4f} | {r['diffid_logit_mean']:.4f} | "
            f"{r['diffid_acc_auc']:.4f} | {r['diffid_acc_mean']:.4f} | {delta} | {delta_acc} | {r['seconds'] * 50 / seen:.2f} |"
        )


if __name__ == "__main__":
    main()
