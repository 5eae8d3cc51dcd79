"""bf16 autocast against fp32: how far IG maps and the robustness metrics computed from them move, and the speed-up.

For the MNIST CNN and a ResNet-18 (random weights: the check is about arithmetic, not accuracy), IG maps of a batch
are computed in fp32 and under ``torch.autocast(dtype=torch.bfloat16)``, for the clean images and for a perturbed copy
(the one-shot random-sign perturbation of the attribution-robustness evaluation). Reported per model:

- ``map_rel_l1``: ``|A_bf16 - A_fp32|_1 / |A_fp32|_1`` of the clean maps;
- ``topk_fp32_vs_bf16``: top-k intersection between the fp32 and the bf16 map of the same image (1 = same top-k);
- ``metric_abs_diff``: the largest change of a robustness score (top-k intersection, Kendall tau-b, Spearman between
  clean and perturbed maps, averaged over the batch) when both maps come from bf16 instead of fp32;
- ``speedup``: fp32 time / bf16 time of the IG call.

Tolerance (stated, not tuned): a bf16 evaluation is usable when every averaged score moves by at most 0.02 and the
per-image top-k sets agree on at least 90 % of their pixels; ``within_tolerance`` says whether both hold.

Usage::

    python benchmarks/autocast_check.py --quick           # CPU, tiny sizes
    python benchmarks/autocast_check.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import Tensor, nn

from robattr.attribution import IntegratedGradients, attribution_map
from robattr.metrics.functional import kendall_tau, spearman, topk_intersection
from robattr.models import MnistCNN, TorchvisionClassifier

SCORE_TOLERANCE = 0.02
TOPK_AGREEMENT = 0.9


def ig_maps(model: nn.Module, x: Tensor, y: Tensor, steps: int, dtype: torch.dtype | None) -> tuple[Tensor, float]:
    """Abs-sum IG maps in fp32 (``dtype=None``) or under autocast, and the seconds the IG call took."""
    ig = IntegratedGradients(n_steps=steps)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        attr = ig(model, x, y)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return attribution_map(attr.float().detach()), time.perf_counter() - start


def scores(clean: Tensor, perturbed: Tensor, k: int) -> dict[str, float]:
    """Averaged robustness scores between clean and perturbed maps."""
    return {
        "topk": float(topk_intersection(clean, perturbed, k)),
        "kendall": float(kendall_tau(clean, perturbed)),
        "spearman": float(spearman(clean, perturbed)),
    }


def check(
    name: str, model: nn.Module, shape: tuple[int, ...], n: int, steps: int, k: int, device: torch.device
) -> dict:
    """One row of the check for ``model``."""
    gen = torch.Generator().manual_seed(0)
    model = model.to(device).eval()
    x = torch.rand(n, *shape, generator=gen).to(device)
    x_pert = (x + 0.05 * torch.sign(torch.randn(x.shape, generator=gen)).to(device)).clamp(0, 1)
    with torch.no_grad():
        y = model(x).argmax(1)
    ig_maps(model, x[:1], y[:1], steps, None)  # warm-up
    fp32, t32 = ig_maps(model, x, y, steps, None)
    bf16, t16 = ig_maps(model, x, y, steps, torch.bfloat16)
    fp32_p, _ = ig_maps(model, x_pert, y, steps, None)
    bf16_p, _ = ig_maps(model, x_pert, y, steps, torch.bfloat16)
    s32, s16 = scores(fp32, fp32_p, k), scores(bf16, bf16_p, k)
    diff = max(abs(s32[key] - s16[key]) for key in s32)
    agreement = float(topk_intersection(fp32, bf16, k))
    return {
        "benchmark": "autocast_bf16",
        "model": name,
        "batch": n,
        "ig_steps": steps,
        "k": k,
        "map_rel_l1": float((bf16 - fp32).abs().sum() / fp32.abs().sum().clamp_min(1e-12)),
        "topk_fp32_vs_bf16": agreement,
        "metric_abs_diff": diff,
        **{f"{key}_fp32": v for key, v in s32.items()},
        **{f"{key}_bf16": v for key, v in s16.items()},
        "speedup": t32 / t16,
        "within_tolerance": diff <= SCORE_TOLERANCE and agreement >= TOPK_AGREEMENT,
    }


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Rows for the MNIST CNN and ResNet-18; ``quick``: tiny batches and few IG steps."""
    dev = torch.device(device)
    if quick:
        return [
            check("mnist_cnn 28x28", MnistCNN(), (1, 28, 28), 8, 8, 50, dev),
            check("resnet18 64x64", TorchvisionClassifier("resnet18", num_classes=10), (3, 64, 64), 2, 4, 200, dev),
        ]
    return [
        check("mnist_cnn 28x28", MnistCNN(), (1, 28, 28), 256, 50, 100, dev),
        check(
            "resnet18 224x224", TorchvisionClassifier("resnet18", num_classes=1000), (3, 224, 224), 32, 50, 1000, dev
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = run(args.quick, args.device)
    for r in rows:
        print(
            f"{r['model']:18s} rel L1 {r['map_rel_l1']:.4f}  top-k agreement {r['topk_fp32_vs_bf16']:.3f}"
            f"  max score change {r['metric_abs_diff']:.4f}  speed-up {r['speedup']:.2f}  ok={r['within_tolerance']}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
