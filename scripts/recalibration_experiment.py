#!/usr/bin/env python
"""MNIST-5k DiffID of every attribution method, without and with re-calibration (docs/recalibration.md).

Runs the faithfulness job, :class:`robattr.evaluation.FaithfulnessEvaluation` under ``trainer.test``, on a trained
MNIST-5k ``MnistCNN`` checkpoint (by default the natural quickstart model; ``--train`` or a missing file trains it
first with ``robattr-train fit --config configs/mnist5k/natural_quick.yaml``), every method at DiffID ratios
0.1..0.9. Two runs of the job: vanilla and re-calibrated maps ranked by ``sum_c |A_c|`` as in the re-calibration
code, and a ``vanilla_signed`` control that ranks the vanilla maps by the signed ``sum_c A_c`` (no abs), to separate
"re-calibration" from "dropping the abs". The one thing this script adds to the job is a per-image record of the
DiffID-logit and DiffID-acc means (:class:`PerImageDiffID`), so the table also gives, for each re-calibrated method,
the paired difference to its vanilla version with a standard error over images. Usage::

    python scripts/recalibration_experiment.py                      # 500 test digits, ~25-35 min on 2 CPU cores
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
from lightning.pytorch import Trainer
from torch import Tensor

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
)
from robattr.data import MNIST5k
from robattr.evaluation import FaithfulnessEvaluation
from robattr.metrics.diffid import DiffID
from robattr.metrics.functional.diffid import diffid

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = "checkpoints/mnist5k_natural_quick/last.ckpt"
BATCH = 50


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


class PerImageDiffID(DiffID):
    """:class:`DiffID` that also keeps each valid image's DiffID-logit and DiffID-acc means (for paired SEs)."""

    def __init__(self, ratios) -> None:
        super().__init__(ratios)
        self.per_image: list[Tensor] = []

    def update(self, clean_logits: Tensor, perturbed_logits: Tensor, target: Tensor, valid: Tensor | None = None):
        super().update(clean_logits, perturbed_logits, target, valid)
        for i in range(len(target)) if valid is None else valid.nonzero().flatten().tolist():
            out = diffid(clean_logits[i : i + 1], perturbed_logits[:, :, i : i + 1], target[i : i + 1], self.ratios)
            self.per_image.append(torch.stack([out["diffid_logit_mean"], out["diffid_acc_mean"]]))


def faithfulness_job(
    checkpoint: str, attributions: dict, recalibration: list[str], reduction: str, out: Path, images: int
) -> FaithfulnessEvaluation:
    job = FaithfulnessEvaluation(
        checkpoint=checkpoint,
        attributions=attributions,
        recalibration=recalibration,
        metrics=["diffid"],
        reduction=reduction,
        output_dir=str(out),
        num_vis=0,
        num_images=images,
    )
    for key in list(job.diffid):  # the job's own metric, plus the per-image record
        job.diffid[key] = PerImageDiffID(job.ratios)
    return job


def run_job(job: FaithfulnessEvaluation) -> float:
    """Run ``job`` (its ``num_images`` first MNIST-5k test digits); returns the minutes it took."""
    start = time.time()
    trainer = Trainer(
        accelerator="cpu",
        inference_mode=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(job, datamodule=MNIST5k(batch_size=BATCH, eval_batch_size=BATCH, seed=0), verbose=False)
    return (time.time() - start) / 60


def train_natural_quickstart_model() -> None:
    from robattr.cli.train import run

    run(["fit", "--config", str(ROOT / "configs/mnist5k/natural_quick.yaml"), "--trainer.enable_progress_bar", "false"])


def table_rows(job: FaithfulnessEvaluation, signed: FaithfulnessEvaluation) -> list[dict]:
    rows = [r for r in job.result_rows() if r["method"] != "-"]
    rows += [{**r, "recalibration": "vanilla_signed"} for r in signed.result_rows() if r["method"] != "-"]
    for row in rows:
        if row["recalibration"] in ("vanilla", "vanilla_signed"):
            continue
        mine = torch.stack(job.diffid[job._key(f"{row['method']}/{row['recalibration']}")].per_image)
        vanilla = torch.stack(job.diffid[job._key(f"{row['method']}/vanilla")].per_image)
        diff = mine - vanilla
        se = diff.std(0) / math.sqrt(len(diff))
        row["delta_logit_mean"], row["delta_logit_se"] = float(diff[:, 0].mean()), float(se[0])
        row["delta_acc_mean"], row["delta_acc_se"] = float(diff[:, 1].mean()), float(se[1])
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        "| method | recalibration | DiffID-logit AUC | DiffID-logit mean | DiffID-acc AUC | DiffID-acc mean | "
        "paired delta logit-mean vs vanilla (SE) | paired delta acc-mean (SE) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        delta = f"{r['delta_logit_mean']:+.4f} ({r['delta_logit_se']:.4f})" if "delta_logit_mean" in r else "-"
        delta_acc = f"{r['delta_acc_mean']:+.4f} ({r['delta_acc_se']:.4f})" if "delta_acc_mean" in r else "-"
        print(
            f"| {r['method']} | {r['recalibration']} | {r['diffid_logit_auc']:.4f} | {r['diffid_logit_mean']:.4f} | "
            f"{r['diffid_acc_auc']:.4f} | {r['diffid_acc_mean']:.4f} | {delta} | {delta_acc} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--train", action="store_true", help="train the natural quickstart model first")
    parser.add_argument("--images", type=int, default=500, help="test digits scored (the MNIST-5k test split has 500)")
    parser.add_argument("--references", type=int, default=10)
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--out", default="results/recalibration_mnist5k")
    args = parser.parse_args()
    if args.images < 1:
        parser.error(f"Expected `--images` to be a positive integer, but got {args.images}")
    if args.train or not Path(args.checkpoint).is_file():
        args.checkpoint = DEFAULT_CHECKPOINT
        train_natural_quickstart_model()
    out = Path(args.out)
    attributions = methods(args.references, args.points)
    torch.manual_seed(0)
    modes = ["vanilla", "valid_ip", "valid_ref"]
    job = faithfulness_job(args.checkpoint, attributions, modes, "abs_sum", out / "abs", args.images)
    minutes = run_job(job)
    signed = faithfulness_job(args.checkpoint, attributions, ["vanilla"], "sum", out / "signed", args.images)
    minutes += run_job(signed)
    rows = table_rows(job, signed)
    seen = len(next(iter(job.diffid.values())).per_image)
    accuracy = float(job.accuracy.compute())
    meta = {
        "checkpoint": args.checkpoint,
        "images": seen,
        "accuracy": accuracy,
        "references": args.references,
        "points": args.points,
        "machine": f"{platform.platform()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": str(datetime.date.today()),
        "minutes": minutes,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(
        f"model: {args.checkpoint}; {meta['images']} MNIST-5k test digits, accuracy {accuracy:.3f}; "
        f"R={args.references}, K={args.points}; {meta['machine']}; {meta['date']}; {minutes:.1f} min"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
