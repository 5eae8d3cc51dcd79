"""Throughput of robattr's batched attribution-robustness metrics against a straightforward per-image loop.

For each map size (28x28 with k = 100, 224x224 with k = 1000) and metric (top-k intersection, 1-LENS-recall,
top-k-div intersection with radius 1, Kendall tau-b, Spearman rho), time

- **batched**: robattr's functional metric on all ``--n`` map pairs in one call (``reduction="none"``);
- **loop**: a plain per-image implementation on numpy / scipy (``np.argsort`` top-k, ``scipy.ndimage`` dilation
  for LENS, a Python greedy walk for top-k-div, ``scipy.stats.kendalltau`` / ``spearmanr``), maps copied to the
  CPU first when ``--device cuda``;

and print maps per second, the ratio batched / loop, and the machine. The batched and loop results are checked
to agree before timing. Maps are synthetic: 28x28 "MNIST-like" maps (a smooth blob, about 80 % exact zeros, so the
tie rule matters) and 224x224 smooth random maps; the perturbed map is the clean one shifted by one pixel plus noise.

Usage, from the repository root (robattr installed, or ``PYTHONPATH=.``)::

    python benchmarks/metrics_throughput.py --device cpu --n 128 --threads 1
    python benchmarks/metrics_throughput.py --device cuda --n 256

On a CPU shared with other jobs, ``--threads 1`` avoids torch's intra-op threads waiting for each other.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, stats

from robattr.metrics.functional import (
    kendall_tau,
    lens_recall,
    spearman,
    topk_div_intersection,
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


def time_batched(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_loop(
    fn: Callable[[np.ndarray, np.ndarray, int], float], clean: torch.Tensor, perturbed: torch.Tensor, k: int
) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    a, b = clean.cpu().numpy(), perturbed.cpu().numpy()
    values = [fn(x, y, k) for x, y in zip(a, b)]
    return time.perf_counter() - start, np.array(values)


def machine(device: torch.device) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return (
        f"{platform.platform()}; {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads; device {device} ({where}); {datetime.date.today().isoformat()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n", type=int, default=64, help="number of map pairs per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of the batched call (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    warnings.simplefilter("ignore")

    rows = []
    for size, k in ((28, 100), (224, 1000)):
        clean, perturbed = make_maps(args.n, size)
        clean, perturbed = clean.to(device), perturbed.to(device)
        for name, (batched, loop) in METRICS.items():
            loop_s, expected = time_loop(loop, clean, perturbed, k)
            got = batched(clean, perturbed, k).double().cpu().numpy()
            if not np.allclose(got, expected, atol=1e-5, equal_nan=True):
                raise RuntimeError(f"{name} at {size}x{size}: batched and loop results differ")
            batched_s = time_batched(functools.partial(batched, clean, perturbed, k), device, args.repeats)
            rows.append((f"{size}x{size}, k={k}", name, args.n / batched_s, args.n / loop_s))

    print(f"Machine: {machine(device)}; n = {args.n} map pairs per size\n")
    print("| maps | metric | batched (maps/s) | per-image loop (maps/s) | ratio |")
    print("|---|---|---:|---:|---:|")
    for maps, name, ours, theirs in rows:
        print(f"| {maps} | {name} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.1f}x |")


if __name__ == "__main__":
    main()
