"""Throughput of robattr's batched attribution-robustness metrics against a straightforward per-image loop.

For each map size (28x28 with k = 100, 224x224 with k = 1000) and metric (top-k intersection, 1-LENS-recall,
top-k-div intersection with radius 1, the three top-k-div scores from one shared selection, Kendall tau-b,
Spearman rho), time

- **ours**: robattr's functional metric on all map pairs of the batch in one call (``reduction="none"``);
- **loop**: a plain per-image implementation on numpy / scipy (``np.argsort`` top-k, ``scipy.ndimage`` dilation
  for LENS, a Python greedy walk for top-k-div, ``scipy.stats.kendalltau`` / ``spearmanr``), maps copied to the
  CPU first when the device is a GPU;

each the best of several repeats taken in turn (so a machine shared with other jobs slows both alike), and report
seconds, maps per second and the ratio loop / ours. Both give the same values (checked before timing). Maps are
synthetic: 28x28 "MNIST-like" maps (a smooth blob, about 80 % exact zeros, so the tie rule matters) and 224x224
smooth random maps; the perturbed map is the clean one shifted by one pixel plus noise.

``run(quick=False, device="cpu")`` returns one row per (size, metric); ``benchmarks/run_all.py`` calls it. From the
repository root (robattr installed, or ``PYTHONPATH=.``)::

    OMP_NUM_THREADS=1 python benchmarks/metrics_throughput.py --device cpu --threads 1
    python benchmarks/metrics_throughput.py --device cuda --json metrics.json
    python benchmarks/metrics_throughput.py --quick      # tiny batches, under 30 s on a CPU

On a CPU shared with other jobs, one thread (``--threads 1``) avoids torch's intra-op threads waiting for each other.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, stats

from robattr.metrics.functional import (
    kendall_tau,
    lens_recall,
    spearman,
    topk_div_intersection,
    topk_div_scores,
    topk_intersection,
)

# ----------------------------------------------------------------------------------------------------------------------
# straightforward per-image references (numpy / scipy)


def _topk_set(a: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-a.ravel(), kind="stable")[:k]  # value descending, then flat index ascending


def loop_topk(a: np.ndarray, b: np.ndarray, k: int) -> float:
    return len(np.intersect1d(_topk_set(a, k), _topk_set(b, k))) / k


def loop_lens_recall(a: np.ndarray, b: np.ndarray, k: int, radius: int = 1) -> float:
    mask_a = np.zeros(a.size, bool)
    mask_a[_topk_set(a, k)] = True
    near = ndimage.binary_dilation(mask_a.reshape(a.shape), structure=np.ones((2 * radius + 1,) * 2, bool))
    return int(near.ravel()[_topk_set(b, k)].sum()) / k


def _topk_div(a: np.ndarray, k: int, radius: int) -> set[int]:
    h, w = a.shape
    suppressed = np.zeros((h, w), bool)
    picks: set[int] = set()
    for p in np.argsort(-a.ravel(), kind="stable").tolist():
        row, col = divmod(p, w)
        if suppressed[row, col]:
            continue
        picks.add(p)
        suppressed[max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1] = True
        if len(picks) == k:
            break
    return picks


def loop_topk_div(a: np.ndarray, b: np.ndarray, k: int, radius: int = 1) -> float:
    return len(_topk_div(a, k, radius) & _topk_div(b, k, radius)) / k


def _dilate(picks: set[int], shape: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape[0] * shape[1], bool)
    mask[list(picks)] = True
    return ndimage.binary_dilation(mask.reshape(shape), structure=np.ones((2 * radius + 1,) * 2, bool)).ravel()


def loop_topk_div_scores(a: np.ndarray, b: np.ndarray, k: int, radius: int = 1) -> tuple[float, float, float]:
    """top-k-div intersection, LENS-recall-div and LENS-prec-div from one selection per map."""
    f_a, f_b = _topk_div(a, k, radius), _topk_div(b, k, radius)
    recall = int(_dilate(f_a, a.shape, radius)[list(f_b)].sum()) / k
    precision = int(_dilate(f_b, a.shape, radius)[list(f_a)].sum()) / k
    return len(f_a & f_b) / k, recall, precision


def _div_scores(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    scores = topk_div_scores(a, b, k, radii=[1], reduction="none")
    return torch.stack([scores["topk_div"], scores["lens_recall_div_r1"], scores["lens_prec_div_r1"]], 1)


def _div_separately(a: torch.Tensor, b: torch.Tensor, k: int) -> None:
    """The three top-k-div scores as three functions, each selecting again (what one shared selection saves)."""
    from robattr.metrics.functional import lens_precision_div, lens_recall_div

    topk_div_intersection(a, b, k, 1, reduction="none")
    lens_recall_div(a, b, k, 1, reduction="none")
    lens_precision_div(a, b, k, 1, reduction="none")


def loop_kendall(a: np.ndarray, b: np.ndarray, k: int) -> float:
    return stats.kendalltau(a.ravel(), b.ravel()).statistic


def loop_spearman(a: np.ndarray, b: np.ndarray, k: int) -> float:
    return stats.spearmanr(a.ravel(), b.ravel()).statistic


METRICS: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., float]]] = {
    "top-k intersection": (lambda a, b, k: topk_intersection(a, b, k, reduction="none"), loop_topk),
    "1-LENS-recall": (lambda a, b, k: lens_recall(a, b, k, 1, reduction="none"), loop_lens_recall),
    "top-k-div intersection (r=1)": (
        lambda a, b, k: topk_div_intersection(a, b, k, 1, reduction="none"),
        loop_topk_div,
    ),
    "top-k-div, 3 scores, one selection (r=1)": (_div_scores, loop_topk_div_scores),
    "Kendall tau-b": (lambda a, b, k: kendall_tau(a, b, reduction="none"), loop_kendall),
    "Spearman rho": (lambda a, b, k: spearman(a, b, reduction="none"), loop_spearman),
}

# ----------------------------------------------------------------------------------------------------------------------
# synthetic maps


def make_maps(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, size, size, generator=g)
    smooth = F.avg_pool2d(F.avg_pool2d(noise, 5, 1, 2, count_include_pad=False), 5, 1, 2, count_include_pad=False)
    clean = (smooth - smooth.mean((2, 3), keepdim=True)).squeeze(1)
    if size <= 32:  # MNIST-like: a blob of non-zero values on an exactly-zero background
        clean = clean.clamp_min(0) * (clean > clean.flatten(1).quantile(0.8, dim=1).view(n, 1, 1))
    else:
        clean = clean.abs()
    perturbed = clean.roll(1, 2) + 0.02 * torch.rand(n, size, size, generator=g)
    return clean.contiguous(), perturbed.contiguous()


# ----------------------------------------------------------------------------------------------------------------------
# timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _loop(fn: Callable[..., object], clean: torch.Tensor, perturbed: torch.Tensor, k: int) -> np.ndarray:
    a, b = clean.cpu().numpy(), perturbed.cpu().numpy()
    return np.array([fn(x, y, k) for x, y in zip(a, b)], dtype=np.float64)


def machine(device: str | torch.device = "cpu") -> str:
    device = torch.device(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return (
        f"{platform.platform()}; {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads; device {device} ({where}); {datetime.date.today().isoformat()}"
    )


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Time every metric at 28x28 (k = 100) and 224x224 (k = 1000) against the per-image loop.

    Args:
        quick: tiny batches and one timed repeat (a smoke test: under 30 s on a CPU, numbers not meaningful).
        device: where robattr's metrics run (``"cpu"`` or ``"cuda"``); the loop always runs on the CPU.

    Returns:
        One dict per (size, metric): ``name``, ``size``, ``k``, ``batch``, ``device``, ``ours_s`` and ``loop_s``
        (seconds for the whole batch, best of the repeats), ``ratio`` (``loop_s / ours_s``), ``ours_maps_per_s``,
        ``loop_maps_per_s`` and, for the shared top-k-div row, ``separate_s`` (the three scores as three calls).

    Raises:
        RuntimeError: if robattr and the loop disagree on a metric.
    """
    dev = torch.device(device)
    gpu = dev.type == "cuda"
    sizes = [(28, 100, 8 if quick else 256), (224, 1000, 2 if quick else (256 if gpu else 64))]
    repeats = 1 if quick else 3
    rows = []
    for size, k, batch in sizes:
        clean, perturbed = (m.to(dev) for m in make_maps(batch, size))
        for name, (ours, loop) in METRICS.items():
            expected = _loop(loop, clean, perturbed, k)
            got = ours(clean, perturbed, k).double().cpu().numpy()
            if not np.allclose(got, expected, atol=1e-5, equal_nan=True):
                raise RuntimeError(f"{name} at {size}x{size}: robattr and the loop differ")
            calls = {"loop": partial(_loop, loop, clean, perturbed, k), "ours": partial(ours, clean, perturbed, k)}
            if ours is _div_scores:
                calls["separate"] = partial(_div_separately, clean, perturbed, k)
            best = dict.fromkeys(calls, float("inf"))
            for _ in range(repeats):  # in turn, so that load from other jobs slows both alike
                for key, call in calls.items():
                    best[key] = min(best[key], _timed(call, dev))
            ours_s, loop_s = best["ours"], best["loop"]
            row = {
                "name": name,
                "size": f"{size}x{size}",
                "k": k,
                "batch": batch,
                "device": str(dev),
                "ours_s": ours_s,
                "loop_s": loop_s,
                "ratio": loop_s / ours_s,
                "ours_maps_per_s": batch / ours_s,
                "loop_maps_per_s": batch / loop_s,
            }
            if "separate" in best:
                row["separate_s"] = best["separate"]
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| maps | metric | batch | ours (maps/s) | per-image loop (maps/s) | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        extra = f" (3 separate calls: {r['batch'] / r['separate_s']:,.0f} maps/s)" if "separate_s" in r else ""
        lines.append(
            f"| {r['size']}, k={r['k']} | {r['name']}{extra} | {r['batch']} | {r['ours_maps_per_s']:,.0f} |"
            f" {r['loop_maps_per_s']:,.0f} | {r['ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="tiny batches, one repeat (a smoke test)")
    parser.add_argument("--json", default=None, help="also write the machine and the rows to this JSON file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    rows = run(quick=args.quick, device=args.device)
    print(f"Machine: {machine(args.device)}\n")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(args.device), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
